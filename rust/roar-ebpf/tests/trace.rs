//! Integration tests: real processes traced by the real BPF programs
//! through an in-process loader service (root needed; they fail otherwise).
//! The workloads mirror tests/tracer/test_conformance.py; each is also run
//! under the ptrace backend, which must report the same flags.

mod common;

use std::path::Path;
use std::time::Instant;

use common::*;
use roar_ebpf::proto;
use std::os::unix::net::UnixStream;
use std::process::Command;

struct Workload {
    argv: Vec<String>,
    setup: fn(&Path),
    expect: &'static [(&'static str, &'static str)],
    renames: &'static [(&'static str, &'static str)],
    exit_code: i32,
}

fn none(_: &Path) {}

fn pyw(code: &str) -> Vec<String> {
    vec![python().to_string(), "-c".into(), code.to_string()]
}

fn shw(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.to_string()]
}

fn workload(name: &str) -> Workload {
    let w = |argv, setup, expect, renames, exit_code| Workload {
        argv,
        setup,
        expect,
        renames,
        exit_code,
    };
    match name {
        "python_io" => w(
            pyw("open('out.txt', 'w').write(open('in.txt').read().upper())"),
            |d| write(d, "in.txt", "data"),
            &[("in.txt", "r"), ("out.txt", "wc")],
            &[],
            0,
        ),
        "c_fork_chain" => w(
            vec![tracee("fork_chain").display().to_string()],
            none,
            &[
                ("forked.txt", "wc"),
                ("vforked.txt", "wc"),
                ("spawned.txt", "wc"),
                ("execd.txt", "wc"),
            ],
            &[],
            5,
        ),
        "rdwr_trunc" => w(
            pyw("import os; fd = os.open('f', os.O_RDWR | os.O_TRUNC); os.write(fd, b'n')"),
            |d| write(d, "f", "old"),
            &[("f", "w")],
            &[],
            0,
        ),
        "rdwr_update" => w(
            pyw("import os; fd = os.open('f', os.O_RDWR); os.read(fd, 1); os.write(fd, b'n')"),
            |d| write(d, "f", "old"),
            &[("f", "rw")],
            &[],
            0,
        ),
        "temp_rename" => w(
            pyw("import os; open('r.tmp', 'w').write('{}'); os.rename('r.tmp', 'r.json')"),
            none,
            &[("r.json", "wc")],
            &[("r.tmp", "r.json")],
            0,
        ),
        "temp_rename_over_existing" => w(
            pyw("import os; open('r.tmp', 'w').write('{}'); os.rename('r.tmp', 'r.json')"),
            |d| write(d, "r.json", "old"),
            &[("r.json", "w")],
            &[("r.tmp", "r.json")],
            0,
        ),
        "rename_in_subdir" => w(
            shw("mkdir sub; echo x > sub/t.tmp; mv sub/t.tmp sub/out"),
            none,
            &[("sub", "c"), ("sub/out", "wc")],
            &[("t.tmp", "out")],
            0,
        ),
        "rename_in_subdir_over_existing" => w(
            shw("echo x > sub/t.tmp; mv sub/t.tmp sub/./out"),
            |d| write(d, "sub/out", "old"),
            &[("sub/out", "w")],
            &[("t.tmp", "out")],
            0,
        ),
        "rename_absolute_over_existing" => w(
            pyw("import os; open('t.tmp', 'w').write('n'); os.rename('t.tmp', os.path.abspath('sub/out'))"),
            |d| write(d, "sub/out", "old"),
            &[("sub/out", "w")],
            &[("t.tmp", "out")],
            0,
        ),
        "small_files_rmtree" => w(
            pyw("import os, shutil\n\
                 os.makedirs('small')\n\
                 for i in range(3):\n    open(f'small/f{i}', 'wb').write(b'x' * 1024)\n\
                 for i in range(3):\n    open(f'small/f{i}', 'rb').read(); os.stat(f'small/f{i}')\n\
                 shutil.rmtree('small')\n"),
            none,
            &[
                ("small", "cdl"),
                ("small/f0", "wcd"),
                ("small/f1", "wcd"),
                ("small/f2", "wcd"),
            ],
            &[],
            0,
        ),
        "dirfd_and_chdir" => w(
            pyw("import os\n\
                 d = os.open('d1', os.O_RDONLY | os.O_DIRECTORY)\n\
                 os.read(os.open('in.txt', os.O_RDONLY, dir_fd=d), 9)\n\
                 os.chdir('d2'); open('out.txt', 'w').write('y'); os.chdir('..')\n\
                 os.close(os.open('../d1/./sub_out', os.O_WRONLY | os.O_CREAT, dir_fd=d))\n"),
            |d| {
                write(d, "d1/in.txt", "x");
                write(d, "d2/keep", "k");
            },
            &[
                ("d1", "l"),
                ("d1/in.txt", "r"),
                ("d2/out.txt", "wc"),
                ("d1/sub_out", "wc"),
            ],
            &[],
            0,
        ),
        "threads" => w(
            pyw("import threading\n\
                 f = open('shared.txt', 'w')\n\
                 def work(i):\n    f.write('x'); open(f'out_{i}.txt', 'w').write(str(i))\n\
                 ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]\n\
                 [t.start() for t in ts]; [t.join() for t in ts]\n"),
            none,
            &[
                ("shared.txt", "wc"),
                ("out_0.txt", "wc"),
                ("out_1.txt", "wc"),
                ("out_2.txt", "wc"),
                ("out_3.txt", "wc"),
            ],
            &[],
            0,
        ),
        "exec_chain" => w(
            shw("exec sh -c 'exec cat in.txt > chained.txt'"),
            |d| write(d, "in.txt", "data"),
            &[("in.txt", "r"), ("chained.txt", "wc")],
            &[],
            0,
        ),
        "redirect_and_pipeline" => w(
            shw("cat a | tr a-z A-Z > b; cat a >> log"),
            |d| {
                write(d, "a", "hello");
                write(d, "log", "old\n");
            },
            &[("a", "r"), ("b", "wc"), ("log", "rw")],
            &[],
            0,
        ),
        "cp" => w(
            vec!["cp".into(), "a".into(), "b".into()],
            |d| write(d, "a", &"x".repeat(100_000)),
            &[("a", "r"), ("b", "wc")],
            &[],
            0,
        ),
        "truncate" => w(
            vec!["truncate".into(), "-s".into(), "0".into(), "t1".into()],
            |d| write(d, "t1", "abcdef"),
            &[("t1", "w")],
            &[],
            0,
        ),
        "unlink_rmdir_mkdir" => w(
            shw("rm gone && rmdir dir && mkdir newdir && touch s && rm s"),
            |d| {
                write(d, "gone", "x");
                std::fs::create_dir(d.join("dir")).expect("mkdir");
            },
            &[("gone", "d"), ("dir", "d"), ("newdir", "c"), ("s", "wcd")],
            &[],
            0,
        ),
        "grandchild_after_parent_exit" => w(
            vec![tracee("grandchild").display().to_string()],
            none,
            &[("late.txt", "wc")],
            &[],
            0,
        ),
        "failed_opens" => w(
            pyw("for name in ('missing.txt', 'nodir/x'):\n    try: open(name)\n    except OSError: pass\n"),
            none,
            &[],
            &[],
            0,
        ),
        "symlink_read" => w(
            pyw("open('link.txt').read()"),
            |d| {
                write(d, "real.txt", "x");
                std::os::unix::fs::symlink("real.txt", d.join("link.txt")).expect("symlink");
            },
            &[("real.txt", "r")],
            &[],
            0,
        ),
        "tmpfile_linkat" => w(
            vec![tracee("tmpfile_linkat").display().to_string()],
            none,
            &[("named.txt", "wc"), ("named2.txt", "wc")],
            &[],
            0,
        ),
        "static_writer" => w(
            vec![tracee("static_writer").display().to_string()],
            |d| write(d, "static_in.txt", "in"),
            &[("static_in.txt", "r"), ("static_out.txt", "wc")],
            &[],
            0,
        ),
        "symlink_and_link" => w(
            shw("ln -s a sl && ln a hl && cat sl > /dev/null"),
            |d| write(d, "a", "x"),
            &[("a", "r"), ("sl", "c"), ("hl", "wc")],
            &[],
            0,
        ),
        other => panic!("no workload {other}"),
    }
}

fn renames_of(s: &Summary) -> Vec<(String, String)> {
    s.renames
        .iter()
        .map(|r| {
            let name = |p: &Path| {
                p.file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default()
            };
            (name(r.from.as_path()), name(r.to.as_path()))
        })
        .collect()
}

/// Run `name` under eBPF: the expected flags, renames and exit code.
fn check(name: &str) -> Summary {
    let w = workload(name);
    let d = tmpdir(name);
    (w.setup)(&d);
    let argv: Vec<&str> = w.argv.iter().map(String::as_str).collect();
    let s = run_in(&d, &argv);
    assert_eq!(s.backend, "ebpf");
    assert_eq!(s.exit_code, w.exit_code, "{name}: {}", s.to_json());
    assert_eq!(under(&s, &d), expect(w.expect), "{name}: {}", s.to_json());
    let want: Vec<(String, String)> = w
        .renames
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(renames_of(&s), want, "{name}");
    assert_eq!(s.stats.stops, 0);
    s
}

macro_rules! workload_tests {
    ($($t:ident),* $(,)?) => {
        $( #[test] fn $t() { check(stringify!($t)); } )*
        const ALL: &[&str] = &[$(stringify!($t)),*];
    };
}

workload_tests!(
    python_io,
    c_fork_chain,
    rdwr_trunc,
    rdwr_update,
    temp_rename,
    temp_rename_over_existing,
    rename_in_subdir,
    rename_in_subdir_over_existing,
    rename_absolute_over_existing,
    dirfd_and_chdir,
    small_files_rmtree,
    threads,
    exec_chain,
    redirect_and_pipeline,
    cp,
    truncate,
    unlink_rmdir_mkdir,
    grandchild_after_parent_exit,
    failed_opens,
    symlink_read,
    tmpfile_linkat,
    static_writer,
    symlink_and_link,
);

/// Every workload: eBPF and ptrace report the same flags for every path
/// under the working directory, and the same renames.
#[test]
fn same_as_ptrace() {
    let mut diffs = Vec::new();
    for name in ALL {
        let w = workload(name);
        let argv: Vec<&str> = w.argv.iter().map(String::as_str).collect();
        let d1 = tmpdir(&format!("cmp-e-{name}"));
        (w.setup)(&d1);
        let e = run_in(&d1, &argv);
        let d2 = tmpdir(&format!("cmp-p-{name}"));
        (w.setup)(&d2);
        let p = ptrace_in(&d2, &argv);
        if under(&e, &d1) != under(&p, &d2)
            || renames_of(&e) != renames_of(&p)
            || e.exit_code != p.exit_code
        {
            diffs.push(format!(
                "{name}: ebpf {:?} {:?} {} / ptrace {:?} {:?} {}",
                under(&e, &d1),
                renames_of(&e),
                e.exit_code,
                under(&p, &d2),
                renames_of(&p),
                p.exit_code
            ));
        }
    }
    assert!(diffs.is_empty(), "{diffs:#?}");
}

#[test]
fn mtime_before_of_in_place_update() {
    let d = tmpdir("mtime");
    write(&d, "f", "old");
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(d.join("f")).expect("stat");
    let before = m.mtime() * 1_000_000_000 + m.mtime_nsec();
    let s = py(&d, "open('f', 'a').write('more')");
    let f = s.file(d.join("f").to_str().unwrap_or_default()).expect("f");
    assert_eq!(f.mtime_ns_before, Some(before));
    assert!(f.read && f.write && !f.create);
}

#[test]
fn exit_codes_signals_and_missing_commands() {
    let d = tmpdir("exit");
    assert_eq!(sh(&d, "exit 7").exit_code, 7);
    let s = sh(&d, "kill -9 $$");
    assert_eq!((s.exit_code, s.exit_signal), (137, Some(9)));
    let s = run_in(&d, &["definitely-not-a-command-xyz"]);
    assert_eq!(s.exit_code, 127);
    assert_eq!(
        s.exec_error.as_deref(),
        Some("command not found: definitely-not-a-command-xyz")
    );
    write(&d, "noexec", "#!/bin/sh\n");
    let s = run_in(&d, &["./noexec"]);
    assert_eq!(s.exit_code, 126);
    assert!(s.exec_error.is_some());
}

#[test]
fn processes_and_exec() {
    let d = tmpdir("procs");
    let s = sh(&d, "sh -c 'exit 3'; true");
    assert_eq!(s.exit_code, 0);
    assert!(s.processes.len() >= 2, "{:?}", s.processes);
    let root = s
        .processes
        .iter()
        .find(|p| p.pid == s.root_pid)
        .expect("root");
    assert_eq!(root.argv.first().map(|a| a.as_bytes()), Some(&b"sh"[..]));
    assert!(root.exe.is_some());
    let child = s
        .processes
        .iter()
        .find(|p| p.ppid == Some(s.root_pid) && p.exit_code == Some(3));
    assert!(child.is_some(), "{:?}", s.processes);
    let sh_bin = std::fs::canonicalize("/bin/sh").expect("sh");
    assert_eq!(flags(&s, &sh_bin), "x");
}

#[test]
fn script_exec_names_script_and_interpreter() {
    let d = tmpdir("script");
    write(&d, "run.sh", "#!/bin/sh\necho hi > out\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.join("run.sh"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let s = run_in(&d, &["./run.sh"]);
    assert!(
        flags(&s, &d.join("run.sh")).contains('x'),
        "{}",
        s.to_json()
    );
    let sh_bin = std::fs::canonicalize("/bin/sh").expect("sh");
    assert!(flags(&s, &sh_bin).contains('x'));
    assert_eq!(flags(&s, &d.join("out")), "wc");
}

/// A file opened 10,000 times is reported a handful of times.
#[test]
fn repeated_opens_are_deduplicated() {
    let d = tmpdir("dedup");
    write(&d, "in.txt", "x");
    let s = py(
        &d,
        "for _ in range(10000):\n    open('in.txt').read()\nfor _ in range(10000):\n    open('out.txt', 'a').write('x')\n",
    );
    assert_eq!(flags(&s, &d.join("in.txt")), "r");
    assert_eq!(flags(&s, &d.join("out.txt")), "wc");
    assert!(s.stats.events < 400, "{} events", s.stats.events);
}

/// A path on another mount (tmpfs /dev/shm) opened through a dirfd from a
/// process whose cwd is on the root file system.
#[test]
fn paths_cross_mounts() {
    let d = tmpdir("mount-cwd");
    let shm = tmpdir_in(Path::new("/dev/shm"), "mount");
    write(&shm, "in.txt", "x");
    let code = format!(
        "import os\nd = os.open('{}', os.O_RDONLY | os.O_DIRECTORY)\n\
         os.read(os.open('in.txt', os.O_RDONLY, dir_fd=d), 1)\n\
         os.close(os.open('new.txt', os.O_WRONLY | os.O_CREAT, dir_fd=d))\n\
         os.rename('new.txt', 'moved.txt', src_dir_fd=d, dst_dir_fd=d)\n",
        shm.display()
    );
    let s = py(&d, &code);
    assert_eq!(flags(&s, &shm.join("in.txt")), "r", "{}", s.to_json());
    assert_eq!(flags(&s, &shm.join("moved.txt")), "wc");
    assert_eq!(flags(&s, &shm.join("new.txt")), "-");
}

/// Two jobs at once: neither sees the other's files.
#[test]
fn concurrent_jobs_are_separate() {
    service();
    let d1 = tmpdir("conc1");
    let d2 = tmpdir("conc2");
    let j1 =
        roar_ebpf::spawn(&cfg_in(&d1, &["sh", "-c", "sleep 0.3; echo 1 > one"])).expect("spawn");
    let j2 =
        roar_ebpf::spawn(&cfg_in(&d2, &["sh", "-c", "sleep 0.3; echo 2 > two"])).expect("spawn");
    let s1 = j1.wait();
    let s2 = j2.wait();
    assert_eq!(under(&s1, &d1), expect(&[("one", "wc")]));
    assert_eq!(under(&s2, &d2), expect(&[("two", "wc")]));
    assert!(s1
        .file(d2.join("two").to_str().unwrap_or_default())
        .is_none());
    assert!(s2
        .file(d1.join("one").to_str().unwrap_or_default())
        .is_none());
}

/// Long-lived mode: interval marks over $ROAR_TRACE_CONTROL.
#[test]
fn intervals_over_the_control_socket() {
    let d = tmpdir("intervals");
    write(&d, "pre.txt", "x");
    let code = "import os, socket, subprocess\n\
        open('pre.txt').read()\n\
        s = socket.socket(socket.AF_UNIX); s.connect(os.environ['ROAR_TRACE_CONTROL'])\n\
        f = s.makefile('rw')\n\
        def ask(line):\n    f.write(line + '\\n'); f.flush(); return f.readline()\n\
        assert '\"ok\":true' in ask('begin c1')\n\
        open('pre.txt').read()\n\
        open('a.txt', 'w').write('a')\n\
        subprocess.run(['sh', '-c', 'echo b > b.txt'], check=True)\n\
        reply = ask('end')\n\
        open('reply.json', 'w').write(reply)\n";
    let mut cfg = cfg_in(&d, &[python(), "-c", code]);
    cfg.intervals = true;
    let s = run_cfg(&cfg);
    assert_eq!(s.exit_code, 0, "{}", s.to_json());
    let reply: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("reply.json")).expect("reply"))
            .expect("json");
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["label"], "c1");
    let files = reply["summary"]["files"].as_array().expect("files");
    let fl = |name: &str| {
        let p = d.join(name).display().to_string();
        files
            .iter()
            .find(|f| f["path"] == p.as_str())
            .map(|f| (f["read"] == true, f["write"] == true))
    };
    assert_eq!(fl("a.txt"), Some((false, true)), "{reply}");
    assert_eq!(fl("b.txt"), Some((false, true)), "{reply}");
    // read before the interval and again inside it: in the interval too
    assert_eq!(fl("pre.txt"), Some((true, false)), "{reply}");
    // Long-lived mode summarises intervals only; the run keeps just its exit status.
    assert!(under(&s, &d).is_empty(), "{:?}", under(&s, &d));
}

#[test]
fn io_uring_setup_is_reported() {
    let d = tmpdir("uring");
    let s = py(
        &d,
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n\
         params = ctypes.create_string_buffer(120)\n\
         r = libc.syscall(425, 8, params)\n",
    );
    assert!(
        s.warnings.iter().any(|w| w.contains("io_uring")),
        "{:?}",
        s.warnings
    );
}

/// The kernel ids of the BPF programs this process holds open (the
/// in-process service's): reloading a program gives it a new id.
fn loaded_prog_ids() -> Vec<u32> {
    let mut ids = Vec::new();
    for fd in std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .flatten()
    {
        let target = std::fs::read_link(fd.path()).unwrap_or_default();
        if target.to_string_lossy() != "anon_inode:bpf-prog" {
            continue;
        }
        let info = format!("/proc/self/fdinfo/{}", fd.file_name().to_string_lossy());
        let text = std::fs::read_to_string(info).unwrap_or_default();
        for line in text.lines() {
            if let Some(id) = line.strip_prefix("prog_id:") {
                ids.push(id.trim().parse().expect("prog_id"));
            }
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The programs stay attached between jobs: ten jobs run on the programs
/// the first one found loaded (same kernel program ids), none reloads them.
/// The time a job takes is printed, not asserted: speed lives in benchmarks.
#[test]
fn jobs_reuse_the_attached_programs() {
    let d = tmpdir("reuse");
    sh(&d, "true"); // the service is up and its programs loaded
    let before = loaded_prog_ids();
    assert!(!before.is_empty(), "no BPF program held by the service");
    let mut times = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let s = run_in(&d, &["true"]);
        times.push(t.elapsed());
        assert_eq!(s.exit_code, 0);
        assert!(s.files.iter().any(|f| f.exec), "{}", s.to_json());
        assert_eq!(loaded_prog_ids(), before, "a job reloaded the BPF programs");
    }
    times.sort();
    eprintln!(
        "`true` under eBPF: median job {:?} (of 10)",
        times[times.len() / 2]
    );
}

/// A client that goes away cancels its job; the service carries on.
#[test]
fn a_vanished_client_cancels_its_job() {
    service();
    let mut child = Command::new("sleep").arg("0.2").spawn().expect("sleep");
    let mut s = UnixStream::connect(roar_ebpf::socket_path()).expect("connect");
    proto::write_frame(
        &mut s,
        proto::START,
        &proto::start_payload(&roar_ebpf::version(), child.id() as i32),
    )
    .expect("send");
    let (ty, _) = proto::read_frame(&mut s).expect("a reply");
    assert_eq!(ty, proto::ACK);
    drop(s);
    let _ = child.wait();
    let d = tmpdir("after-cancel");
    let s = sh(&d, "echo ok > f");
    assert_eq!(under(&s, &d), expect(&[("f", "wc")]));
}

/// A bind mount: the path names the mount the file was opened through
/// (as `readlink /proc/<pid>/fd/N` would), not the bound directory.
#[test]
fn bind_mounts_name_the_mounted_path() {
    let d = tmpdir("bind");
    write(&d, "src/f", "x");
    std::fs::create_dir(d.join("dst")).expect("mkdir");
    let c = |p: &Path| std::ffi::CString::new(p.to_str().unwrap_or_default()).expect("path");
    let (src, dst) = (c(&d.join("src")), c(&d.join("dst")));
    // SAFETY: mount(2) with NUL-terminated paths.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0, "bind mount: {}", std::io::Error::last_os_error());
    let s = sh(&d, "cat dst/f > /dev/null; echo y > dst/g");
    // SAFETY: umount(2) of the mount made above.
    unsafe { libc::umount2(dst.as_ptr(), libc::MNT_DETACH) };
    assert_eq!(flags(&s, &d.join("dst/f")), "r", "{}", s.to_json());
    assert_eq!(flags(&s, &d.join("dst/g")), "wc");
    assert_eq!(flags(&s, &d.join("src/f")), "-");
}
