//! Shared test helpers: one in-process loader service per test binary (real
//! BPF: these tests need root and fail — never skip — without it), tracees
//! built with gcc, and flag strings as in tests/tracer/conftest.py.

#![allow(dead_code)]

use std::ffi::OsString;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use roar_ebpf::{SpawnConfig, Summary};

/// Start the service (once) on a private socket and point clients at it.
pub fn service() {
    static STARTED: OnceLock<PathBuf> = OnceLock::new();
    let sock = STARTED.get_or_init(|| {
        roar_ebpf::availability().expect("this build must include eBPF (clang + libbpf-dev)");
        let base = std::env::temp_dir().join(format!("roar-ebpf-test-{}.sock", std::process::id()));
        std::env::set_var(roar_ebpf::SOCKET_ENV, &base);
        let sock = roar_ebpf::socket_path();
        let s = sock.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let r = roar_ebpf::serve(&s, Duration::from_secs(3600), Duration::from_secs(60));
            let _ = tx.send(r.map_err(|e| e.to_string()));
        });
        let t = Instant::now();
        while UnixStream::connect(&sock).is_err() {
            if let Ok(r) = rx.try_recv() {
                panic!("the eBPF service ended: {r:?}");
            }
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "the eBPF service did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        sock
    });
    assert!(sock.exists());
}

pub fn tmpdir(name: &str) -> PathBuf {
    tmpdir_in(&std::env::temp_dir(), name)
}

pub fn tmpdir_in(base: &Path, name: &str) -> PathBuf {
    let d = base.join(format!("roar-ebpf-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    std::fs::canonicalize(&d).expect("canonicalize")
}

pub fn cfg_in(dir: &Path, argv: &[&str]) -> SpawnConfig {
    let mut cfg = SpawnConfig::new(argv.iter().map(OsString::from).collect());
    cfg.cwd = Some(dir.to_path_buf());
    cfg
}

pub fn run_cfg(cfg: &SpawnConfig) -> Summary {
    service();
    let job = roar_ebpf::spawn(cfg).expect("spawn");
    job.wait_timeout(Some(Duration::from_secs(120)))
        .expect("the traced command did not finish")
}

pub fn run_in(dir: &Path, argv: &[&str]) -> Summary {
    run_cfg(&cfg_in(dir, argv))
}

pub fn sh(dir: &Path, script: &str) -> Summary {
    run_in(dir, &["sh", "-c", script])
}

/// The real python3 binary (not a shim script).
pub fn python() -> &'static str {
    static PY: OnceLock<String> = OnceLock::new();
    PY.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 is needed for these tests");
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .trim()
            .to_string()
    })
}

pub fn py(dir: &Path, code: &str) -> Summary {
    run_in(dir, &[python(), "-c", code])
}

/// The C tracees of tests/tracer/tracees, built once with gcc
/// (`static_*` with -static).
pub fn tracee(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tracer/tracees");
        let out = tmpdir("tracees");
        for e in std::fs::read_dir(&src).expect("tests/tracer/tracees") {
            let p = e.expect("entry").path();
            if p.extension().is_none_or(|x| x != "c") {
                continue;
            }
            let stem = p.file_stem().expect("stem").to_string_lossy().into_owned();
            let mut cmd = Command::new("gcc");
            if stem.starts_with("static") {
                cmd.arg("-static");
            }
            let st = cmd
                .args(["-O1", "-o"])
                .arg(out.join(&stem))
                .arg(&p)
                .arg("-lpthread")
                .status()
                .expect("gcc is needed for these tests");
            assert!(st.success(), "cannot build {}", p.display());
        }
        out
    });
    dir.join(name)
}

/// 'r','w','c','d','x','l' letters for `p`, '-' when absent.
pub fn flags(s: &Summary, p: &Path) -> String {
    s.letters_of(p.to_str().unwrap_or_default())
}

/// Every path under `dir` with its flags (relative names), as
/// tests/tracer/test_conformance.py compares them.
pub fn under(s: &Summary, dir: &Path) -> Vec<(String, String)> {
    s.letters_under(dir)
}

pub fn expect(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

pub fn write(dir: &Path, name: &str, content: &str) {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(p, content).expect("write");
}

/// The same workload under the ptrace backend (the reference).
pub fn ptrace_in(dir: &Path, argv: &[&str]) -> Summary {
    let cfg = cfg_in(dir, argv);
    roar_ptrace::spawn(&cfg).expect("ptrace spawn").wait()
}
