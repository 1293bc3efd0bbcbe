//! When the tracing process dies, when the reaper dies, and when the caller stops waiting for
//! processes the command left running: real processes, no mocks.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use roar_preload::{discard, recover, spawn, Recovered, SpawnConfig};
use roar_trace_format::Recovery;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "roar-preload-recovery-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    std::fs::canonicalize(&d).expect("canonicalize")
}

fn cfg(dir: &Path, script: &str) -> SpawnConfig {
    let mut cfg = SpawnConfig::new(vec!["sh".into(), "-c".into(), OsString::from(script)]);
    cfg.cwd = Some(dir.to_path_buf());
    cfg
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start().chars().next());
            !matches!(state, Some(Some('Z')) | Some(Some('X')) | None)
        })
        .unwrap_or(false)
}

fn kill(pid: i32) {
    // SAFETY: kill(2) on a pid this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

fn names(s: &roar_preload::Summary, dir: &Path) -> Vec<String> {
    s.letters_under(dir).into_iter().map(|(p, _)| p).collect()
}

const HELPER_TOKEN: &str = "ROAR_TEST_RECOVERY_TOKEN";
const HELPER_DIR: &str = "ROAR_TEST_RECOVERY_DIR";

/// Not a test on its own: the process that starts a traced job and is then killed (run by
/// `the_log_outlives_the_tracing_process`).
#[test]
#[ignore]
fn helper_dies_while_tracing() {
    let (Some(token), Some(dir)) = (std::env::var_os(HELPER_TOKEN), std::env::var_os(HELPER_DIR))
    else {
        return;
    };
    let dir = PathBuf::from(dir);
    let mut c = cfg(
        &dir,
        "echo a > a; while [ ! -e go ]; do sleep 0.01; done; echo b > b; exit 3",
    );
    c.recovery = Some(Recovery {
        token: token.to_string_lossy().into_owned(),
        summary_file: None,
    });
    let _job = spawn(&c).expect("spawn");
    wait_until("a", Duration::from_secs(20), || dir.join("a").exists());
    // SAFETY: killing this very process, as `kill -9` of roar would.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
}

#[test]
fn the_log_outlives_the_tracing_process() {
    let dir = tmpdir("outlives");
    let token = format!("test-{}-outlives", std::process::id());
    let st = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "helper_dies_while_tracing",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(HELPER_TOKEN, &token)
        .env(HELPER_DIR, &dir)
        .status()
        .expect("helper");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&st),
        Some(libc::SIGKILL)
    );
    // The command goes on (traced: its shim still logs) while its tracer is gone.
    assert!(matches!(recover(&token), Ok(Recovered::Running)));
    std::fs::write(dir.join("go"), "").expect("go");
    let t = Instant::now();
    let summary = loop {
        match recover(&token).expect("recover") {
            Recovered::Running => {
                assert!(
                    t.elapsed() < Duration::from_secs(30),
                    "the tree never ended"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            Recovered::Found(s) => break s,
            Recovered::Missing => panic!("the log is gone"),
        }
    };
    let got = names(&summary, &dir);
    assert!(
        got.contains(&"a".to_string()) && got.contains(&"b".to_string()),
        "{got:?}"
    );
    assert_eq!((summary.exit_code, summary.exit_known), (3, true)); // sh's exit() was logged
    assert!(summary
        .incomplete
        .as_deref()
        .unwrap_or("")
        .contains("recovered"));
    assert!(summary.processes.iter().any(|p| p.pid == summary.root_pid));
    discard(&token);
    assert!(matches!(recover(&token), Ok(Recovered::Missing)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_killed_reaper_is_not_the_end_of_the_tree() {
    let dir = tmpdir("reaper");
    let job = spawn(&cfg(&dir, "echo a > a; sleep 30")).expect("spawn");
    let root = job.pid();
    wait_until("a", Duration::from_secs(20), || dir.join("a").exists());
    let stat = std::fs::read_to_string(format!("/proc/{root}/stat")).expect("stat");
    let reaper: i32 = stat
        .rsplit_once(')')
        .and_then(|(_, r)| r.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .expect("ppid");
    kill(reaper);
    let s = job
        .wait_timeout(Some(Duration::from_secs(20)))
        .expect("the job ends when its reaper dies");
    assert!(!s.exit_known && s.exit_code == -1, "no made-up exit code");
    let why = s.incomplete.clone().unwrap_or_default();
    assert!(why.contains("reaper") && why.contains("signal 9"), "{why}");
    assert!(s.warnings.iter().any(|w| w.contains("reaper")));
    assert_eq!(names(&s, &dir), vec!["a".to_string()]);
    kill(root);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn finish_now_stops_waiting_for_a_process_left_running() {
    let dir = tmpdir("leftover");
    let job = spawn(&cfg(
        &dir,
        "echo a > a; (sleep 0.2; echo b > b; exec sleep 30) & exit 2",
    ))
    .expect("spawn");
    wait_until("the root's end", Duration::from_secs(20), || {
        job.root_exit().is_some()
    });
    assert_eq!(job.root_exit(), Some((2, None)));
    wait_until("b", Duration::from_secs(20), || dir.join("b").exists());
    let running = job.running_pids();
    assert_eq!(running.len(), 1, "{running:?}");
    assert!(job.wait_timeout(Some(Duration::from_millis(100))).is_none());
    job.finish_now();
    let s = job
        .wait_timeout(Some(Duration::from_secs(10)))
        .expect("summary after finish_now");
    assert!(job.is_done());
    assert_eq!((s.exit_code, s.exit_known), (2, true));
    assert!(s.incomplete.is_some());
    assert_eq!(names(&s, &dir), vec!["a".to_string(), "b".to_string()]);
    assert!(alive(running[0]), "the process left running goes on");
    kill(running[0]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_summary_file_is_written_before_the_summary_is_handed_out() {
    let dir = tmpdir("summary-file");
    let mut c = cfg(&dir, "echo a > a; exit 5");
    let file = dir.join("kept.json");
    let token = format!("test-{}-file", std::process::id());
    c.recovery = Some(Recovery {
        token: token.clone(),
        summary_file: Some(file.clone()),
    });
    let s = spawn(&c)
        .expect("spawn")
        .wait_timeout(Some(Duration::from_secs(20)))
        .expect("done");
    assert_eq!(s.exit_code, 5);
    let kept: roar_preload::Summary =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("kept")).expect("json");
    assert_eq!(kept, s);
    // The log is released with the summary made.
    assert!(matches!(recover(&token), Ok(Recovered::Missing)));
    let _ = std::fs::remove_dir_all(&dir);
}
