//! The collector: intervals see only their own events, the run sees all,
//! and the flush hook runs before an interval's summary is taken.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use roar_trace_format::{
    Collector, ControlServer, Event, OpenFlags, RawPath, RunInfo, SpawnConfig, CONTROL_ENV,
};

fn write_open(path: &str) -> Event {
    Event::Open {
        pid: 1,
        path: RawPath::new(path.as_bytes()),
        flags: OpenFlags {
            write: true,
            create: true,
            truncate: true,
            ..Default::default()
        },
        result: 3,
        existed_before: Some(false),
        mtime_ns_before: None,
        is_dir: false,
    }
}

#[test]
fn intervals_hold_their_own_events_and_the_run_holds_all() {
    let c = Collector::new("test");
    let flushes = Arc::new(AtomicUsize::new(0));
    let f = Arc::clone(&flushes);
    c.set_flush(Box::new(move || {
        f.fetch_add(1, Ordering::SeqCst);
    }));
    c.push(write_open("/w/before"));
    c.begin_interval("cell 1");
    c.push(write_open("/w/inside"));
    let (label, s) = c.end_interval(42).expect("an interval was open");
    assert_eq!(label, "cell 1");
    assert_eq!(s.root_pid, 42);
    let paths: Vec<_> = s.files.iter().map(|f| f.path.as_bytes().to_vec()).collect();
    assert_eq!(paths, vec![b"/w/inside".to_vec()]);
    assert_eq!(
        flushes.load(Ordering::SeqCst),
        2,
        "begin and end both flush"
    );
    assert!(c.end_interval(42).is_none());
    assert!(!c.is_done());
    assert!(c.wait_timeout(Some(Duration::from_millis(10))).is_none());
    c.finish(RunInfo::default());
    let run = c.wait_timeout(None).expect("published");
    assert_eq!(run.files.len(), 2);
}

#[test]
fn control_socket_speaks_the_line_protocol() {
    let c = Collector::new("test");
    let server = ControlServer::start(Arc::clone(&c)).expect("control server");
    server.set_root_pid(7);
    let stream = UnixStream::connect(server.path()).expect("connect");
    let mut out = stream.try_clone().expect("clone");
    let mut lines = BufReader::new(stream).lines();
    let mut ask = |req: &str| {
        writeln!(out, "{req}").expect("send");
        lines.next().expect("a reply").expect("utf-8")
    };
    assert!(ask("end").contains(r#""ok":false"#));
    assert_eq!(ask("begin cell 3"), r#"{"ok":true}"#);
    c.push(write_open("/w/x"));
    let reply: serde_json::Value = serde_json::from_str(&ask("end")).expect("json");
    assert_eq!(reply["label"], "cell 3");
    assert_eq!(reply["summary"]["root_pid"], 7);
    assert_eq!(reply["summary"]["files"][0]["path"], "/w/x");
    assert!(ask("bogus").contains("unknown request"));
    let path = server.path().to_path_buf();
    drop(server);
    assert!(!path.exists(), "the socket is removed with the server");
}

#[test]
fn start_control_exports_the_socket_only_when_asked() {
    let c = Collector::new("test");
    let mut cfg = SpawnConfig::new(vec!["true".into()]);
    let (env, server) = roar_trace_format::start_control(&cfg, &c).expect("no server");
    assert!(server.is_none() && !env.iter().any(|(k, _)| k == CONTROL_ENV));
    cfg.intervals = true;
    let (env, server) = roar_trace_format::start_control(&cfg, &c).expect("server");
    let server = server.expect("a server");
    let exported = env
        .iter()
        .find(|(k, _)| k == CONTROL_ENV)
        .map(|(_, v)| v.clone());
    assert_eq!(exported.as_deref(), Some(server.path().as_os_str()));
}

#[test]
fn finish_now_without_a_stop_hook_publishes_a_snapshot_and_keeps_tracing() {
    // A backend that cannot let go of its tree (ptrace): the summary of what was pushed so far
    // is handed out, written to the summary file, marked incomplete; the backend goes on and
    // its own summary later replaces it without touching the file again.
    let dir = std::env::temp_dir().join(format!("roar-collector-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let file = dir.join("summary.json");
    let c = Collector::new("test");
    c.set_summary_file(Some(file.clone()));
    let me = std::process::id() as i32;
    c.push(Event::ProcessStart { pid: me, ppid: 1 });
    c.push(Event::ProcessStart {
        pid: 999_999_999,
        ppid: 1,
    }); // announced, not alive
    c.push(write_open("/w/early"));
    assert_eq!(c.running_pids(), vec![me], "only processes alive in /proc");
    assert_eq!(c.root_exit(), None);
    c.set_root_exit(4, None);
    c.finish_now();
    assert!(!c.is_done(), "the backend has not finished");
    let s = c
        .wait_timeout(Some(Duration::ZERO))
        .expect("snapshot published");
    assert_eq!((s.exit_code, s.exit_known), (4, true));
    assert!(s.incomplete.as_deref().unwrap_or("").contains("still ran"));
    assert_eq!(s.files.len(), 1);
    let kept = std::fs::read_to_string(&file).expect("summary file");
    assert!(kept.contains("/w/early") && kept.contains("\"incomplete\""));
    std::fs::remove_file(&file).expect("rm");
    c.push(write_open("/w/late"));
    c.finish(RunInfo::default());
    assert!(c.is_done());
    assert!(!file.exists(), "written once only");
    let _ = std::fs::remove_dir(&dir);
}

#[test]
fn finish_now_with_a_stop_hook_leaves_the_ending_to_the_backend() {
    let c = Collector::new("test");
    let asked = Arc::new(AtomicUsize::new(0));
    let a = Arc::clone(&asked);
    c.set_stop(Box::new(move || {
        a.fetch_add(1, Ordering::SeqCst);
    }));
    c.finish_now();
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    assert!(c.wait_timeout(Some(Duration::from_millis(10))).is_none());
    c.finish(RunInfo {
        exit_unknown: true,
        exit_code: 7,
        ..Default::default()
    });
    let s = c.wait_timeout(None).expect("published");
    assert_eq!(
        (s.exit_code, s.exit_known, s.exit_signal),
        (-1, false, None)
    );
    let back: roar_trace_format::Summary = serde_json::from_str(&s.to_json()).expect("round trip");
    assert!(!back.exit_known);
    // An older summary (no exit_known key) reads as known.
    let old = s.to_json().replace("\"exit_known\":false,", "");
    let back: roar_trace_format::Summary = serde_json::from_str(&old).expect("old");
    assert!(back.exit_known);
}
