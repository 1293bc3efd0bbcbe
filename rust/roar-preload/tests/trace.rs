//! Integration tests: real processes under the preload backend (no mocks).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use roar_preload::{spawn, SpawnConfig, Summary};

mod common;
use common::python;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("roar-preload-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    std::fs::canonicalize(&d).expect("canonicalize")
}

fn run_in(dir: &Path, argv: &[&str]) -> Summary {
    let mut cfg = SpawnConfig::new(argv.iter().map(OsString::from).collect());
    cfg.cwd = Some(dir.to_path_buf());
    let job = spawn(&cfg).expect("spawn");
    job.wait_timeout(Some(Duration::from_secs(60)))
        .expect("the traced command did not finish")
}

fn sh(dir: &Path, script: &str) -> Summary {
    run_in(dir, &["sh", "-c", script])
}

fn py(dir: &Path, code: &str) -> Summary {
    run_in(dir, &[python(), "-c", code])
}

/// The C tracees of tests/tracer/tracees, built once with gcc.
fn tracee(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tracer/tracees");
        let out = std::env::temp_dir().join(format!("roar-preload-tracees-{}", std::process::id()));
        std::fs::create_dir_all(&out).expect("mkdir");
        let mut n = 0;
        for e in std::fs::read_dir(&src).expect("tests/tracer/tracees") {
            let p = e.expect("entry").path();
            if p.extension().and_then(|x| x.to_str()) != Some("c") {
                continue;
            }
            let stem = p.file_stem().and_then(|s| s.to_str()).expect("name");
            let mut cmd = Command::new("gcc");
            if stem.starts_with("static") {
                cmd.arg("-static");
            }
            cmd.args(["-O1", "-o"])
                .arg(out.join(stem))
                .arg(&p)
                .arg("-lpthread");
            let st = cmd.status().expect("gcc is needed for these tests");
            assert!(st.success(), "cannot build tracee {}", p.display());
            n += 1;
        }
        assert!(n >= 5, "tracees missing in {}", src.display());
        out
    });
    let p = dir.join(name);
    assert!(p.exists(), "no tracee {name}");
    p
}

fn flags(s: &Summary, p: &Path) -> String {
    s.letters_of(p.to_str().unwrap_or_default())
}

/// Flags of every path under `dir` (relative names), for exact comparisons.
fn under(s: &Summary, dir: &Path) -> Vec<(String, String)> {
    s.letters_under(dir)
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = v
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

#[test]
fn availability_and_summary_shape() {
    roar_preload::availability().expect("preload available");
    let d = tmpdir("shape");
    let s = sh(&d, "echo hi > x");
    assert_eq!(s.backend, "preload");
    assert_eq!(s.stats.stops, 0);
    assert!(s.stats.events > 0);
    assert_eq!(s.exit_code, 0);
    assert!(s.start_ns <= s.end_ns);
    let v: serde_json::Value = serde_json::from_str(&s.to_json()).expect("json");
    assert_eq!(v["format"], "roar-access-summary");
    assert_eq!(v["backend"], "preload");
    assert!(!s.processes.is_empty());
}

#[test]
fn python_read_write_update_rename() {
    let d = tmpdir("python");
    std::fs::write(d.join("in.txt"), "data").expect("write");
    std::fs::write(d.join("f"), "old").expect("write");
    std::fs::write(d.join("u"), "old").expect("write");
    let s = py(
        &d,
        "import os\n\
         data = open('in.txt').read()\n\
         open('out.txt', 'w').write(data.upper())\n\
         fd = os.open('f', os.O_RDWR | os.O_TRUNC); os.write(fd, b'n'); os.close(fd)\n\
         fd = os.open('u', os.O_RDWR); os.read(fd, 1); os.write(fd, b'n'); os.close(fd)\n\
         open('r.tmp', 'w').write('{}'); os.rename('r.tmp', 'r.json')\n",
    );
    assert_eq!(s.exit_code, 0);
    assert_eq!(
        under(&s, &d),
        pairs(&[
            ("in.txt", "r"),
            ("out.txt", "wc"),
            ("f", "w"),
            ("u", "rw"),
            ("r.json", "wc")
        ])
    );
    let u = s.file(d.join("u").to_str().unwrap_or_default()).expect("u");
    assert!(u.mtime_ns_before.is_some());
    assert_eq!(s.renames.len(), 1);
    assert!(s.renames[0].from.as_bytes().ends_with(b"/r.tmp"));
}

#[test]
fn python_dirfd_and_chdir() {
    let d = tmpdir("dirfd");
    std::fs::create_dir_all(d.join("d1")).expect("mkdir");
    std::fs::create_dir_all(d.join("d2")).expect("mkdir");
    std::fs::write(d.join("d1/in.txt"), "x").expect("write");
    let s = py(
        &d,
        "import os\n\
         d = os.open('d1', os.O_RDONLY | os.O_DIRECTORY)\n\
         fd = os.open('in.txt', os.O_RDONLY, dir_fd=d); os.read(fd, 9); os.close(fd)\n\
         os.chdir('d2'); open('out.txt', 'w').write('y'); os.chdir('..')\n\
         os.close(os.open('../d1/./sub_out', os.O_WRONLY | os.O_CREAT, dir_fd=d))\n\
         os.mkdir('newdir', dir_fd=d)\n",
    );
    assert_eq!(s.exit_code, 0);
    assert_eq!(
        under(&s, &d),
        pairs(&[
            ("d1", "l"),
            ("d1/in.txt", "r"),
            ("d2/out.txt", "wc"),
            ("d1/sub_out", "wc"),
            ("d1/newdir", "c"),
        ])
    );
    let d1 = s
        .file(d.join("d1").to_str().unwrap_or_default())
        .expect("d1");
    assert!(d1.is_dir);
}

#[test]
fn directory_opened_without_o_directory_is_a_dir() {
    let d = tmpdir("dirnoflag");
    std::fs::create_dir_all(d.join("sub")).expect("mkdir");
    let s = py(
        &d,
        "import os\nfd = os.open('sub', os.O_RDONLY); os.listdir(fd); os.close(fd)\n",
    );
    let sub = s
        .file(d.join("sub").to_str().unwrap_or_default())
        .expect("sub");
    assert!(sub.is_dir && sub.dir_list && !sub.read, "{sub:?}");
}

#[test]
fn python_threads() {
    let d = tmpdir("threads");
    let s = py(
        &d,
        "import threading\n\
         f = open('shared.txt', 'w')\n\
         def work(i):\n    f.write('x')\n    for j in range(20): open(f'out_{i}_{j}.txt', 'w').write(str(i))\n\
         ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]\n\
         [t.start() for t in ts]; [t.join() for t in ts]; f.close()\n",
    );
    assert_eq!(s.exit_code, 0);
    assert_eq!(flags(&s, &d.join("shared.txt")), "wc");
    for i in 0..8 {
        for j in 0..20 {
            assert_eq!(flags(&s, &d.join(format!("out_{i}_{j}.txt"))), "wc");
        }
    }
    assert_eq!(s.processes.len(), 1, "threads are not processes");
}

#[test]
fn shell_redirect_pipeline_append() {
    let d = tmpdir("redirect");
    std::fs::write(d.join("a"), "hello").expect("write");
    std::fs::write(d.join("log"), "old\n").expect("write");
    let s = sh(&d, "cat a > b; cat a | tr a-z A-Z > c; cat a >> log");
    assert_eq!(s.exit_code, 0);
    assert_eq!(
        under(&s, &d),
        pairs(&[("a", "r"), ("b", "wc"), ("c", "wc"), ("log", "rw")])
    );
}

#[test]
fn coreutils_cp_truncate_rm_mkdir_ln() {
    let d = tmpdir("coreutils");
    std::fs::write(d.join("a"), "x".repeat(100_000)).expect("write");
    std::fs::write(d.join("t1"), "abcdef").expect("write");
    std::fs::write(d.join("gone"), "x").expect("write");
    std::fs::create_dir(d.join("dir")).expect("mkdir");
    let s = sh(
        &d,
        "cp a b && truncate -s 0 t1 && rm gone && rmdir dir && mkdir newdir && \
         ln a hard && ln -s a soft && touch s && rm s",
    );
    assert_eq!(s.exit_code, 0);
    assert_eq!(
        under(&s, &d),
        pairs(&[
            ("a", "r"),
            ("b", "wc"),
            ("t1", "w"),
            ("gone", "d"),
            ("dir", "d"),
            ("newdir", "c"),
            ("hard", "wc"),
            ("soft", "c"),
            ("s", "wcd"),
        ])
    );
}

#[test]
fn symlink_read_names_the_target_and_failed_opens_nothing() {
    let d = tmpdir("symlink");
    std::fs::write(d.join("real.txt"), "x").expect("write");
    std::os::unix::fs::symlink("real.txt", d.join("link.txt")).expect("symlink");
    let s = py(
        &d,
        "open('link.txt').read()\n\
         for name in ('missing.txt', 'nodir/x'):\n    try: open(name)\n    except OSError: pass\n\
         try: open('/proc/1/nonexistent', 'w')\nexcept OSError: pass\n",
    );
    assert_eq!(s.exit_code, 0);
    assert_eq!(under(&s, &d), pairs(&[("real.txt", "r")]));
}

#[test]
fn fork_vfork_posix_spawn_exec() {
    let d = tmpdir("forks");
    let s = run_in(&d, &[tracee("fork_chain").to_str().unwrap_or_default()]);
    assert_eq!(s.exit_code, 5);
    for name in ["forked.txt", "vforked.txt", "spawned.txt", "execd.txt"] {
        assert_eq!(flags(&s, &d.join(name)), "wc", "{name}");
    }
    assert!(s.processes.len() >= 4, "{:?}", s.processes);
    assert!(s
        .processes
        .iter()
        .any(|p| p.ppid == Some(s.root_pid) && p.pid != s.root_pid));
    assert!(
        s.processes.iter().all(|p| p.exit_code.is_some()),
        "{:?}",
        s.processes
    );
}

#[test]
fn exec_chain_and_process_tree() {
    let d = tmpdir("execchain");
    std::fs::write(d.join("in.txt"), "data").expect("write");
    let s = sh(&d, "exec sh -c 'exec cat in.txt > chained.txt'");
    assert_eq!(s.exit_code, 0);
    assert_eq!(
        under(&s, &d),
        pairs(&[("in.txt", "r"), ("chained.txt", "wc")])
    );
    let s = sh(&d, "true; ls > /dev/null");
    let argvs: Vec<Vec<String>> = s
        .processes
        .iter()
        .map(|p| {
            p.argv
                .iter()
                .map(|a| String::from_utf8_lossy(a.as_bytes()).into_owned())
                .collect()
        })
        .collect();
    assert!(argvs.contains(&vec!["ls".to_string()]), "{argvs:?}");
    assert!(s
        .files
        .iter()
        .any(|f| f.exec && f.path.as_bytes().ends_with(b"/ls")));
}

#[test]
fn script_exec_records_script_and_interpreter() {
    let d = tmpdir("script");
    let script = d.join("run.sh");
    std::fs::write(&script, "#!/bin/sh\necho s > out.txt\n").expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let s = sh(&d, "./run.sh && env ./run.sh");
    assert_eq!(s.exit_code, 0);
    assert_eq!(flags(&s, &script), "rx", "{:?}", s.files);
    assert_eq!(flags(&s, &d.join("out.txt")), "wc");
}

#[test]
fn scrubbed_environment_is_still_traced() {
    let d = tmpdir("envi");
    std::fs::write(d.join("in.txt"), "x").expect("write");
    let s = sh(
        &d,
        "env -i /bin/sh -c 'cat in.txt > out.txt' && env -u LD_PRELOAD sh -c 'echo y > out2.txt'",
    );
    assert_eq!(s.exit_code, 0);
    assert_eq!(
        under(&s, &d),
        pairs(&[("in.txt", "r"), ("out.txt", "wc"), ("out2.txt", "wc")])
    );
    let s = py(
        &d,
        "import subprocess\n\
         subprocess.run(['/bin/sh', '-c', 'echo z > out3.txt'], env={}, check=True)\n\
         subprocess.run(['/bin/sh', '-c', 'echo z > out4.txt'], env={'PATH': '/usr/bin'}, close_fds=True, check=True)\n",
    );
    assert_eq!(s.exit_code, 0);
    assert_eq!(flags(&s, &d.join("out3.txt")), "wc");
    assert_eq!(flags(&s, &d.join("out4.txt")), "wc");
}

#[test]
fn users_ld_preload_entries_are_kept() {
    let d = tmpdir("userpreload");
    let lib = roar_preload::library_path().expect("lib");
    let mut cfg = SpawnConfig::new(vec![
        "sh".into(),
        "-c".into(),
        "printf %s \"$LD_PRELOAD\" > seen.txt; env -i sh -c 'printf %s \"$LD_PRELOAD\"' > seen2.txt"
            .into(),
    ]);
    cfg.cwd = Some(d.clone());
    cfg.env.retain(|(k, _)| k != "LD_PRELOAD");
    cfg.env.push(("LD_PRELOAD".into(), "libm.so.6".into()));
    let s = spawn(&cfg).expect("spawn").wait();
    assert_eq!(s.exit_code, 0);
    let seen = std::fs::read_to_string(d.join("seen.txt")).expect("read");
    assert_eq!(seen, format!("{} libm.so.6", lib.display()));
    let seen2 = std::fs::read_to_string(d.join("seen2.txt")).expect("read");
    assert_eq!(seen2, lib.display().to_string());
}

#[test]
fn grandchild_after_parent_exit() {
    let d = tmpdir("grandchild");
    let s = run_in(&d, &[tracee("grandchild").to_str().unwrap_or_default()]);
    assert_eq!(s.exit_code, 0);
    assert_eq!(flags(&s, &d.join("late.txt")), "wc");
    let s = sh(&d, "(sleep 0.3; echo late > late2.txt) & exit 3");
    assert_eq!(s.exit_code, 3);
    assert_eq!(flags(&s, &d.join("late2.txt")), "wc");
}

#[test]
fn static_binary_is_reported_not_seen() {
    let d = tmpdir("static");
    std::fs::write(d.join("static_in.txt"), "in").expect("write");
    let bin = tracee("static_writer");
    // As the command itself, and exec'd by a traced shell.
    for s in [
        run_in(&d, &[bin.to_str().unwrap_or_default()]),
        sh(&d, &format!("{} && true", bin.display())),
    ] {
        assert_eq!(s.exit_code, 0);
        let w: Vec<&String> = s
            .warnings
            .iter()
            .filter(|w| w.contains("static_writer"))
            .collect();
        assert_eq!(w.len(), 1, "{:?}", s.warnings);
        assert!(w[0].contains("statically linked") && w[0].contains("--tracer ptrace"));
        assert_eq!(flags(&s, &d.join("static_out.txt")), "-");
        assert_eq!(flags(&s, &bin), "x");
    }
}

#[test]
fn tmpfile_linkat() {
    let d = tmpdir("tmpfile");
    let s = run_in(&d, &[tracee("tmpfile_linkat").to_str().unwrap_or_default()]);
    assert_eq!(s.exit_code, 0);
    assert_eq!(
        under(&s, &d),
        pairs(&[("named.txt", "wc"), ("named2.txt", "wc")])
    );
}

#[test]
fn exec_from_non_leader_thread() {
    let d = tmpdir("threadexec");
    let s = run_in(&d, &[tracee("thread_exec").to_str().unwrap_or_default()]);
    assert_eq!(s.exit_code, 4);
    assert_eq!(flags(&s, &d.join("thread_exec.txt")), "wc");
}

#[test]
fn exit_codes_signals_and_exec_errors() {
    let d = tmpdir("exit");
    assert_eq!(sh(&d, "exit 7").exit_code, 7);
    let s = sh(&d, "kill -9 $$");
    assert_eq!(s.exit_code, 137);
    assert_eq!(s.exit_signal, Some(9));
    let s = run_in(&d, &["definitely-not-a-command-xyz"]);
    assert_eq!(s.exit_code, 127);
    assert_eq!(
        s.exec_error.as_deref(),
        Some("command not found: definitely-not-a-command-xyz")
    );
    std::fs::write(d.join("plain"), "not a program").expect("write");
    let s = run_in(&d, &["./plain"]);
    assert_eq!(s.exit_code, 126);
    assert!(s.exec_error.is_some());
    assert!(matches!(
        spawn(&SpawnConfig::new(vec![])),
        Err(roar_preload::SpawnError::InvalidArgument(_))
    ));
}

#[test]
fn sigint_to_the_root() {
    // A command inherits an ignored SIGINT, as it would untraced, and a test binary started
    // in the background by a non-interactive shell (`make test &`) has SIGINT ignored: give
    // this one the default action so that the command's is too.
    // SAFETY: setting a signal disposition in our own process.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_DFL) };
    let d = tmpdir("sigint");
    let mut cfg = SpawnConfig::new(vec!["sleep".into(), "30".into()]);
    cfg.cwd = Some(d);
    let job = spawn(&cfg).expect("spawn");
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: signalling the command we started.
    unsafe { libc::kill(job.pid(), libc::SIGINT) };
    let s = job
        .wait_timeout(Some(Duration::from_secs(10)))
        .expect("finished");
    assert_eq!(s.exit_code, 130);
    assert_eq!(s.exit_signal, Some(2));
}

#[test]
fn write_then_sigkill_or_exit_is_kept() {
    let d = tmpdir("kill");
    let s = py(
        &d,
        "import os, signal\nopen('before_kill.txt', 'w').write('x')\nos.kill(os.getpid(), signal.SIGKILL)\n",
    );
    assert_eq!(s.exit_code, 137);
    assert_eq!(flags(&s, &d.join("before_kill.txt")), "wc");
    let s = py(
        &d,
        "import os\nf = open('before_exit.txt', 'w'); f.write('x'); f.flush()\nos._exit(3)\n",
    );
    assert_eq!(s.exit_code, 3);
    assert_eq!(flags(&s, &d.join("before_exit.txt")), "wc");
    let s = py(&d, "import os\nopen('before_abort.txt', 'w')\nos.abort()\n");
    assert_eq!(s.exit_signal, Some(libc::SIGABRT));
    assert_eq!(flags(&s, &d.join("before_abort.txt")), "wc");
}

#[test]
fn closing_every_fd_does_not_lose_or_misdirect_events() {
    let d = tmpdir("closefds");
    std::fs::write(d.join("in.txt"), "x").expect("write");
    let s = py(
        &d,
        "import os\n\
         os.closerange(3, 65536)\n\
         for fd in range(3, 2048):\n    try: os.close(fd)\n    except OSError: pass\n\
         fds = [os.open(f'f{i}.txt', os.O_WRONLY | os.O_CREAT) for i in range(1100)]\n\
         for fd in fds: os.write(fd, b'user'); os.close(fd)\n\
         r, w = os.pipe(); os.dup2(r, 1000); os.dup2(r, 1001)\n\
         open('in.txt').read()\n\
         open('after.txt', 'w').write('ok')\n",
    );
    assert_eq!(s.exit_code, 0);
    assert_eq!(flags(&s, &d.join("in.txt")), "r");
    assert_eq!(flags(&s, &d.join("after.txt")), "wc");
    for i in 0..1100 {
        let p = d.join(format!("f{i}.txt"));
        assert_eq!(flags(&s, &p), "wc");
        assert_eq!(std::fs::read(&p).expect("read"), b"user", "{}", p.display());
    }
}

#[test]
fn copy_file_range_and_sendfile() {
    let d = tmpdir("copy");
    std::fs::write(d.join("src"), "x".repeat(10_000)).expect("write");
    std::fs::write(d.join("dst2"), "old").expect("write");
    let s = py(
        &d,
        "import os\n\
         i = os.open('src', os.O_RDONLY); o = os.open('dst', os.O_WRONLY | os.O_CREAT)\n\
         os.copy_file_range(i, o, 10_000)\n\
         o2 = os.open('dst2', os.O_WRONLY)\n\
         os.sendfile(o2, i, 0, 100)\n",
    );
    assert_eq!(s.exit_code, 0);
    assert_eq!(
        under(&s, &d),
        pairs(&[("src", "r"), ("dst", "wc"), ("dst2", "w")])
    );
}

#[test]
fn io_uring_is_reported() {
    let d = tmpdir("uring");
    let s = py(
        &d,
        "import ctypes, platform, sys\n\
         if platform.machine() != 'x86_64': sys.exit(0)\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         params = ctypes.create_string_buffer(120)\n\
         r = libc.syscall(425, 8, params)\n\
         sys.exit(0 if r >= 0 or ctypes.get_errno() in (1, 38) else 1)\n",
    );
    assert_eq!(s.exit_code, 0);
    if cfg!(target_arch = "x86_64") {
        assert!(
            s.warnings.iter().any(|w| w.contains("io_uring")),
            "{:?}",
            s.warnings
        );
    }
}

#[test]
fn intervals_include_children() {
    let d = tmpdir("intervals");
    let code = "import os, socket, subprocess, json\n\
        s = socket.socket(socket.AF_UNIX); s.connect(os.environ['ROAR_TRACE_CONTROL'])\n\
        f = s.makefile('rw')\n\
        f.write('begin c1\\n'); f.flush(); assert json.loads(f.readline())['ok']\n\
        open('cell1.txt', 'w').write('1')\n\
        subprocess.run(['sh', '-c', 'echo 2 > child.txt'], check=True)\n\
        f.write('end\\n'); f.flush(); reply = f.readline()\n\
        open('after.txt', 'w').write('3')\n\
        open('reply.json', 'w').write(reply)\n";
    let mut cfg = SpawnConfig::new(vec![python().into(), "-c".into(), code.into()]);
    cfg.cwd = Some(d.clone());
    cfg.intervals = true;
    let s = spawn(&cfg).expect("spawn").wait();
    assert_eq!(s.exit_code, 0);
    let reply: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("reply.json")).expect("reply"))
            .expect("json");
    assert_eq!(reply["ok"], true);
    assert_eq!(reply["label"], "c1");
    let files: Vec<String> = reply["summary"]["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["path"].as_str().map(str::to_string))
        .collect();
    for name in ["cell1.txt", "child.txt"] {
        let p = d.join(name).display().to_string();
        assert!(files.contains(&p), "{name} missing from {files:?}");
    }
    assert!(!files.contains(&d.join("after.txt").display().to_string()));
    assert_eq!(reply["summary"]["backend"], "preload");
    // Long-lived mode summarises intervals only; the run keeps just its exit status.
    assert!(s.files.is_empty(), "{:?}", s.files);
}

#[test]
fn concurrent_jobs() {
    let d = tmpdir("concurrent");
    let hs: Vec<_> = (0..6)
        .map(|i| {
            let sub = d.join(i.to_string());
            std::fs::create_dir(&sub).expect("mkdir");
            std::thread::spawn(move || {
                let s = sh(&sub, &format!("echo {i} > out; exit {i}"));
                (s.exit_code, flags(&s, &sub.join("out")))
            })
        })
        .collect();
    let mut got: Vec<(i32, String)> = hs.into_iter().map(|h| h.join().expect("join")).collect();
    got.sort();
    let want: Vec<(i32, String)> = (0..6).map(|i| (i, "wc".to_string())).collect();
    assert_eq!(got, want);
}

fn build_c(src: &str, out: &Path, extra: &[&str]) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/c")
        .join(src);
    let st = Command::new("gcc")
        .args(["-O1", "-D_FORTIFY_SOURCE=2", "-o"])
        .arg(out)
        .arg(&src)
        .args(extra)
        .status()
        .expect("gcc is needed for these tests");
    assert!(st.success(), "cannot build {}", src.display());
}

#[test]
fn stdio_creat_mkstemp_scandir_syscall_execvp_and_spawned_static() {
    let d = tmpdir("hooks");
    let bin = d.join("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    build_c("hooks.c", &bin.join("hooks"), &[]);
    std::fs::write(d.join("fa.txt"), "old\n").expect("write");
    std::fs::write(d.join("fr.txt"), "r\n").expect("write");
    std::fs::create_dir(d.join("sdir")).expect("mkdir");
    std::fs::write(d.join("sdir/x"), "x").expect("write");
    let script = bin.join("script.sh");
    std::fs::write(&script, "#!/bin/sh\necho s > script_out.txt\n").expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(d.join("static_in.txt"), "in").expect("write");
    let stat = tracee("static_writer");
    let mut cfg = SpawnConfig::new(vec![
        bin.join("hooks").into_os_string(),
        stat.clone().into_os_string(),
    ]);
    cfg.cwd = Some(d.clone());
    for (k, v) in cfg.env.iter_mut() {
        if k == "PATH" {
            let mut p = bin.clone().into_os_string();
            p.push(":");
            p.push(&*v);
            *v = p;
        }
    }
    let s = spawn(&cfg).expect("spawn").wait();
    assert_eq!(s.exit_code, 0, "{s:?}");
    let mut got = under(&s, &d);
    got.retain(|(p, _)| !p.starts_with("bin/hooks"));
    assert_eq!(
        got,
        pairs(&[
            ("fw.txt", "wc"),
            ("fa.txt", "rw"),
            ("fr.txt", "r"),
            ("fx.txt", "wc"),
            ("fre.txt", "wc"),
            ("creat.txt", "wc"),
            ("stemp.out", "wc"),
            ("sdir", "l"),
            ("sys.txt", "wc"),
            ("bin/script.sh", "rx"),
            ("script_out.txt", "wc"),
        ])
    );
    assert_eq!(s.renames.len(), 1);
    // The static binary, spawned: named, and said to be unseen.
    assert_eq!(flags(&s, &stat), "x");
    assert!(s
        .warnings
        .iter()
        .any(|w| w.contains("static_writer") && w.contains("statically linked")));
}

#[test]
fn setuid_binary_is_reported_not_seen() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!("this test needs root (to make a binary setuid to another user)");
    }
    let d = tmpdir("setuid");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let bin = d.join("touch-suid");
    std::fs::copy("/usr/bin/touch", &bin).expect("copy");
    let c = std::ffi::CString::new(bin.to_str().unwrap_or_default()).expect("cstr");
    // SAFETY: chown of our own file to nobody (65534).
    assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o4755)).expect("chmod");
    let s = sh(&d, "./touch-suid made.txt && test -e made.txt");
    assert_eq!(s.exit_code, 0);
    assert!(
        s.warnings
            .iter()
            .any(|w| w.contains("touch-suid") && w.contains("(setuid)")),
        "{:?}",
        s.warnings
    );
    assert_eq!(flags(&s, &d.join("made.txt")), "-");
    assert_eq!(flags(&s, &bin), "x");
}

#[test]
fn dlopened_project_library_is_an_input() {
    let d = tmpdir("dlopen");
    std::fs::write(d.join("x.c"), "int answer(void) { return 42; }\n").expect("write");
    let st = Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(d.join("libx.so"))
        .arg(d.join("x.c"))
        .status()
        .expect("gcc");
    assert!(st.success());
    let s = py(
        &d,
        "import ctypes\nassert ctypes.CDLL('./libx.so').answer() == 42\n",
    );
    assert_eq!(s.exit_code, 0);
    assert_eq!(flags(&s, &d.join("libx.so")), "r");
    // And libraries loaded at start (libc) are reads too, as ptrace sees them.
    assert!(s
        .files
        .iter()
        .any(|f| f.read && f.path.as_bytes().ends_with(b"/libc.so.6")));
}

#[test]
fn many_processes_and_threads_lose_nothing() {
    let d = tmpdir("stress");
    let s = sh(
        &d,
        "for p in $(seq 1 16); do (for f in $(seq 1 40); do echo $p > p${p}_$f; done) & done; wait",
    );
    assert_eq!(s.exit_code, 0);
    for p in 1..=16 {
        for f in 1..=40 {
            assert_eq!(flags(&s, &d.join(format!("p{p}_{f}"))), "wc", "p{p}_{f}");
        }
    }
    let s = py(
        &d,
        "import threading, os\n\
         def work(i):\n    for j in range(100):\n        fd = os.open(f't{i}_{j}', os.O_WRONLY | os.O_CREAT); os.close(fd)\n\
         ts = [threading.Thread(target=work, args=(i,)) for i in range(16)]\n\
         [t.start() for t in ts]; [t.join() for t in ts]\n",
    );
    assert_eq!(s.exit_code, 0);
    let n = s
        .files
        .iter()
        .filter(|f| {
            f.create
                && f.path
                    .as_bytes()
                    .starts_with(d.join("t").as_os_str().as_encoded_bytes())
        })
        .count();
    assert_eq!(n, 1600);
}
