//! Attach mode: the service traces a process that is already running —
//! this test process itself, or a child — until DETACH (real BPF; root).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use common::*;
use roar_ebpf::proto;

/// Tests here attach to this very process: one at a time.
static SELF_TRACED: Mutex<()> = Mutex::new(());

fn me() -> i32 {
    std::process::id() as i32
}

fn letters(s: &Summary, p: &std::path::Path) -> String {
    s.letters_of(p.to_str().unwrap_or_default())
}

#[test]
fn attach_to_this_process() {
    service();
    let _g = SELF_TRACED.lock().unwrap_or_else(|p| p.into_inner());
    let d = tmpdir("self");
    std::fs::write(d.join("in"), "hello").expect("write");
    std::fs::write(d.join("before"), "x").expect("write");
    let _ = std::fs::read(d.join("before")).expect("read");
    let a = roar_ebpf::attach(me()).expect("attach");
    assert_eq!(a.pid(), me());
    let _ = std::fs::read(d.join("in")).expect("read");
    std::fs::write(d.join("out"), "o").expect("write");
    let st = Command::new("sh")
        .args(["-c", "cat in > copy"])
        .current_dir(&d)
        .status()
        .expect("sh");
    assert!(st.success());
    let t = std::thread::spawn({
        let d = d.clone();
        move || std::fs::write(d.join("from_thread"), "t").expect("write")
    });
    t.join().expect("thread");
    let s = a.detach(None).expect("detach");
    std::fs::write(d.join("after"), "a").expect("write");

    assert_eq!(s.backend, "ebpf");
    assert_eq!(s.root_pid, me());
    assert_eq!(s.exit_code, 0);
    assert_eq!(letters(&s, &d.join("in")), "r");
    assert_eq!(letters(&s, &d.join("out")), "wc");
    assert_eq!(letters(&s, &d.join("copy")), "wc");
    assert_eq!(letters(&s, &d.join("from_thread")), "wc");
    assert_eq!(letters(&s, &d.join("before")), "-");
    assert_eq!(letters(&s, &d.join("after")), "-");
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert!(s.processes.iter().any(|p| p.pid == me()));
    assert!(s.processes.len() >= 2, "sh was started: {:?}", s.processes);

    // Detached: attaching again works, and sees only what follows.
    let a = roar_ebpf::attach(me()).expect("attach again");
    std::fs::write(d.join("second"), "2").expect("write");
    let s = a.detach(None).expect("detach");
    assert_eq!(letters(&s, &d.join("second")), "wc");
    assert_eq!(letters(&s, &d.join("after")), "-");
    assert_eq!(letters(&s, &d.join("out")), "-");
}

#[test]
fn dropped_without_detach_stops_tracing() {
    service();
    let _g = SELF_TRACED.lock().unwrap_or_else(|p| p.into_inner());
    drop(roar_ebpf::attach(me()).expect("attach"));
    // The service forgets the job when the socket closes; then a new
    // attach is accepted (it refuses a pid that is still traced).
    let t = std::time::Instant::now();
    loop {
        match roar_ebpf::attach(me()) {
            Ok(a) => {
                a.detach(None).expect("detach");
                break;
            }
            Err(e) => {
                assert!(e.to_string().contains("already traced"), "{e}");
                assert!(t.elapsed().as_secs() < 10, "still traced: {e}");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}

#[test]
fn twice_is_refused() {
    service();
    let _g = SELF_TRACED.lock().unwrap_or_else(|p| p.into_inner());
    let a = roar_ebpf::attach(me()).expect("attach");
    let e = roar_ebpf::attach(me())
        .err()
        .expect("second attach refused");
    assert!(e.to_string().contains("already traced"), "{e}");
    a.detach(None).expect("detach");
}

#[test]
fn attach_to_a_child_that_exits() {
    service();
    let d = tmpdir("child");
    let mut child = Command::new("sh")
        .args(["-c", "read x; echo z > z; echo done; read x; exit 3"])
        .current_dir(&d)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id() as i32;
    let a = roar_ebpf::attach(pid).expect("attach");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    writeln!(stdin, "go").expect("write");
    let mut line = String::new();
    out.read_line(&mut line).expect("read");
    assert_eq!(line.trim_end(), "done");
    writeln!(stdin, "go").expect("write");
    assert_eq!(child.wait().expect("wait").code(), Some(3));
    let s = a.detach(None).expect("detach");
    assert_eq!(letters(&s, &d.join("z")), "wc");
    assert_eq!(s.exit_code, 3);
}

#[test]
fn attach_errors() {
    service();
    let e = roar_ebpf::attach(i32::MAX - 1)
        .err()
        .expect("no such process");
    assert!(e.to_string().contains("no process"), "{e}");
    // A thread id is not a process.
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let h = std::thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        tx.send(unsafe { libc::gettid() }).expect("send");
        let _ = stop_rx.recv();
    });
    let tid = rx.recv().expect("tid");
    let e = roar_ebpf::attach(tid).err().expect("a thread");
    assert!(e.to_string().contains("is a thread of process"), "{e}");
    drop(stop_tx);
    h.join().expect("join");
}

#[test]
fn another_users_process_is_refused() {
    service();
    // A process of uid 65534 (nobody), attached from a client of that uid
    // is allowed, from another unprivileged uid is not: here a client
    // running as uid 65533 asks for the nobody process.
    let mut target = Command::new("sleep")
        .arg("30")
        .uid(65534)
        .gid(65534)
        .spawn()
        .expect("spawn");
    let sock = roar_ebpf::socket_base();
    let pid = target.id() as i32;
    let ask = |uid: u32| -> (u8, String) {
        // A forked client with another uid sends ATTACH and reports the reply type.
        let out = Command::new(std::env::current_exe().expect("exe"))
            .args(["--exact", "attach_client_helper", "--nocapture"])
            .env("ROAR_TEST_ATTACH_PID", pid.to_string())
            .env(roar_ebpf::SOCKET_ENV, &sock)
            .uid(uid)
            .gid(uid)
            .output()
            .expect("helper");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("REPLY "))
            .unwrap_or_else(|| panic!("no reply: {text}"))
            .to_string();
        let (ty, msg) = line.split_once(' ').unwrap_or((&line, ""));
        (ty.parse().expect("type"), msg.to_string())
    };
    let (ty, msg) = ask(65533);
    assert_eq!(ty, proto::ERR, "{msg}");
    assert!(msg.contains("another user"), "{msg}");
    let (ty, msg) = ask(65534);
    assert_eq!(ty, proto::ACK, "{msg}");
    let _ = target.kill();
    let _ = target.wait();
}

/// Run as another uid by `another_users_process_is_refused`.
#[test]
fn attach_client_helper() {
    let Ok(pid) = std::env::var("ROAR_TEST_ATTACH_PID") else {
        return; // only as a helper
    };
    let pid: i32 = pid.parse().expect("pid");
    let mut s = UnixStream::connect(roar_ebpf::socket_path()).expect("connect");
    proto::write_frame(
        &mut s,
        proto::ATTACH,
        &proto::start_payload(&roar_ebpf::version(), pid),
    )
    .expect("send");
    let (ty, msg) = proto::read_frame(&mut s).expect("reply");
    println!("REPLY {ty} {}", String::from_utf8_lossy(&msg));
}
