//! Attach mode: trace processes that are already running (real ptrace).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;

use roar_ptrace::{attach, Detacher, Summary};

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("roar-ptrace-attach-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    std::fs::canonicalize(&d).expect("canonicalize")
}

fn flags(s: &Summary, p: &Path) -> String {
    s.letters_of(p.to_str().unwrap_or_default())
}

fn tracer_pid(pid: u32) -> i32 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    s.lines()
        .find_map(|l| l.strip_prefix("TracerPid:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("TracerPid")
}

/// A child that waits for lines on stdin and answers on stdout.
struct Target {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Target {
    fn start(dir: &Path, argv: &[&str]) -> Target {
        let mut child = Command::new(argv[0])
            .args(&argv[1..])
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn");
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        Target { child, out }
    }

    /// Send a line, wait for the answer line.
    fn step(&mut self, line: &str) -> String {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{line}").expect("write");
        stdin.flush().expect("flush");
        let mut answer = String::new();
        self.out.read_line(&mut answer).expect("read");
        answer.trim_end().to_string()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Attach from a tracer thread; returns once attached.
fn attach_to(pid: u32) -> (Detacher, JoinHandle<Summary>) {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::spawn(move || {
        attach(pid as i32, |d| tx.send(d).expect("send")).expect("attach")
    });
    let d = rx.recv().expect("attached");
    (d, h)
}

#[test]
fn a_running_shell_and_what_it_starts() {
    let d = tmpdir("shell");
    std::fs::write(d.join("a"), "hello").expect("write");
    std::fs::write(d.join("before"), "x").expect("write");
    let script = "read x; cat before > /dev/null; echo ready; \
                  read x; cat a > b; sh -c 'echo y > c'; echo done; \
                  read x; echo after > e; echo bye";
    let mut t = Target::start(&d, &["sh", "-c", script]);
    assert_eq!(t.step("1"), "ready"); // `before` was read untraced
    let (detacher, tracer) = attach_to(t.pid());
    assert_ne!(tracer_pid(t.pid()), 0);
    assert_eq!(t.step("2"), "done");
    detacher.detach();
    let s = tracer.join().expect("tracer");
    assert_eq!(tracer_pid(t.pid()), 0, "still traced after detach");
    // The shell keeps working, untraced (it was blocked in read at detach).
    assert_eq!(t.step("3"), "bye");
    assert!(t.child.wait().expect("wait").success());

    assert_eq!(s.backend, "ptrace");
    assert_eq!(s.root_pid, t.pid() as i32);
    assert_eq!(s.exit_code, 0);
    assert_eq!(flags(&s, &d.join("a")), "r");
    assert_eq!(flags(&s, &d.join("b")), "wc");
    assert_eq!(flags(&s, &d.join("c")), "wc");
    assert_eq!(flags(&s, &d.join("before")), "-");
    assert_eq!(flags(&s, &d.join("e")), "-");
    assert!(s.stats.stops > 0);
    let root = s.processes.iter().find(|p| p.pid == t.pid() as i32);
    let root = root.expect("the attached process is listed");
    assert_eq!(root.argv.first().map(|a| a.as_bytes()), Some(&b"sh"[..]));
    // cat and the inner sh were started while attached
    assert!(s.processes.len() >= 3, "{:?}", s.processes);
}

#[test]
fn threads_old_and_new() {
    let d = tmpdir("threads");
    let script = r#"
import sys, threading
go = threading.Event()
def old():
    go.wait()
    open("from_old_thread", "w").write("x")
t = threading.Thread(target=old); t.start()
print("ready", flush=True)
sys.stdin.readline()
go.set(); t.join()
n = threading.Thread(target=lambda: open("from_new_thread", "w").write("y")); n.start(); n.join()
print("done", flush=True)
sys.stdin.readline()
"#;
    let mut t = Target::start(&d, &["python3", "-c", script]);
    let mut ready = String::new();
    t.out.read_line(&mut ready).expect("read");
    assert_eq!(ready.trim_end(), "ready");
    let (detacher, tracer) = attach_to(t.pid());
    assert_eq!(t.step("go"), "done");
    detacher.detach();
    let s = tracer.join().expect("tracer");
    assert_eq!(flags(&s, &d.join("from_old_thread")), "wc");
    assert_eq!(flags(&s, &d.join("from_new_thread")), "wc");
    writeln!(t.child.stdin.as_mut().expect("stdin")).expect("write");
    assert!(t.child.wait().expect("wait").success());
}

#[test]
fn a_target_that_exits_while_attached() {
    let d = tmpdir("exits");
    let mut t = Target::start(&d, &["sh", "-c", "read x; echo z > z; exit 3"]);
    let (detacher, tracer) = attach_to(t.pid());
    writeln!(t.child.stdin.as_mut().expect("stdin"), "go").expect("write");
    // No `wait()`: the tracer thread is in the parent's thread group, so
    // waitpid here would collect its ptrace stops, and the tracer's own
    // waitpid reaps the child when it exits (the kernel treats a tracer in
    // the real parent's thread group as the parent).
    let stat = format!("/proc/{}/stat", t.pid());
    while std::fs::read_to_string(&stat).is_ok_and(|s| !s.contains(") Z")) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    detacher.detach();
    let s = tracer.join().expect("tracer");
    assert_eq!(flags(&s, &d.join("z")), "wc");
    assert_eq!(s.exit_code, 3);
}

#[test]
fn errors_are_clear() {
    let e = attach(i32::MAX - 1, |_| {}).expect_err("no such process");
    assert!(e.to_string().contains("no such process"), "{e}");
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    let e = attach(me, |_| {}).expect_err("own process");
    assert!(e.to_string().contains("own threads"), "{e}");
}

fn state(pid: u32) -> char {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let i = s.rfind(')').expect(")");
    s[i + 1..].trim_start().chars().next().expect("state")
}

fn wait_state(pid: u32, want: &str) {
    let t = std::time::Instant::now();
    while !want.contains(state(pid)) {
        assert!(
            t.elapsed().as_secs() < 10,
            "state {} not in {want}",
            state(pid)
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

#[test]
fn job_control_stops_are_honoured() {
    let d = tmpdir("stops");
    let script = "read x; echo a > a; echo one; read x; echo b > b; echo two; read x; echo three";
    let mut t = Target::start(&d, &["sh", "-c", script]);
    let pid = t.pid();
    let (detacher, tracer) = attach_to(pid);
    let kill = |sig| {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid as i32, sig) };
    };
    kill(libc::SIGSTOP);
    wait_state(pid, "tT"); // stopped (in PTRACE_LISTEN), not resumed by the tracer
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!("tT".contains(state(pid)));
    kill(libc::SIGCONT);
    assert_eq!(t.step("1"), "one");
    // Detached while group-stopped: it stays stopped, untraced, until SIGCONT.
    kill(libc::SIGSTOP);
    wait_state(pid, "tT");
    detacher.detach();
    let s = tracer.join().expect("tracer");
    assert_eq!(tracer_pid(pid), 0);
    wait_state(pid, "T");
    kill(libc::SIGCONT);
    assert_eq!(t.step("2"), "two");
    assert_eq!(t.step("3"), "three");
    assert_eq!(flags(&s, &d.join("a")), "wc");
    assert_eq!(flags(&s, &d.join("b")), "-");
}
