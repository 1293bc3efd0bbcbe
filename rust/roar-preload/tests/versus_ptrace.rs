//! The same workloads under ptrace and under preload: the same flags for
//! every path under the working directory, the same renames, the same exit
//! status.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use roar_preload::{SpawnConfig, Summary};

mod common;
use common::python;

fn fresh(name: &str, backend: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "roar-preload-vs-{}-{name}-{backend}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    std::fs::canonicalize(&d).expect("canonicalize")
}

type Table = BTreeMap<String, String>;

fn table(s: &Summary, dir: &Path) -> Table {
    let prefix = format!("{}/", dir.display());
    s.files
        .iter()
        .filter_map(|f| {
            let p = std::str::from_utf8(f.path.as_bytes()).ok()?;
            let rel = p.strip_prefix(&prefix)?;
            // the common letters, plus is_dir (`/`) and mtime_ns_before (`m`)
            let mut fl = f.letters();
            if f.is_dir {
                fl.push('/');
            }
            if f.mtime_ns_before.is_some() {
                fl.push('m');
            }
            Some((rel.to_string(), fl))
        })
        .collect()
}

fn renames(s: &Summary, dir: &Path) -> Vec<(String, String, bool)> {
    let strip = |p: &roar_trace_format::RawPath| {
        String::from_utf8_lossy(p.as_bytes()).replace(&format!("{}/", dir.display()), "")
    };
    s.renames
        .iter()
        .map(|r| (strip(&r.from), strip(&r.to), r.exchange))
        .collect()
}

/// Run `argv` (in a fresh dir prepared by `setup`) under both backends.
fn same(name: &str, argv: &[&str], setup: &dyn Fn(&Path)) {
    let mut results = Vec::new();
    for backend in ["ptrace", "preload"] {
        let d = fresh(name, backend);
        setup(&d);
        let mut cfg = SpawnConfig::new(argv.iter().map(OsString::from).collect());
        cfg.cwd = Some(d.clone());
        let s = match backend {
            "ptrace" => roar_ptrace::spawn(&cfg).expect("ptrace").wait(),
            _ => roar_preload::spawn(&cfg).expect("preload").wait(),
        };
        results.push((s.exit_code, table(&s, &d), renames(&s, &d)));
    }
    assert_eq!(
        results[0], results[1],
        "{name}: ptrace (left) vs preload (right)"
    );
}

fn write(d: &Path, name: &str, text: &str) {
    let p = d.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(p, text).expect("write");
}

fn py(code: &str) -> Vec<String> {
    vec![python().to_string(), "-c".to_string(), code.to_string()]
}

fn same_py(name: &str, code: &str, setup: &dyn Fn(&Path)) {
    let argv = py(code);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    same(name, &argv, setup);
}

#[test]
fn python_io() {
    same_py(
        "python_io",
        "import os\n\
         open('out.txt', 'w').write(open('in.txt').read())\n\
         fd = os.open('t', os.O_RDWR | os.O_TRUNC); os.close(fd)\n\
         fd = os.open('u', os.O_RDWR); os.write(fd, b'x'); os.close(fd)\n\
         fd = os.open('ap', os.O_WRONLY | os.O_APPEND); os.close(fd)\n\
         fd = os.open('wo', os.O_WRONLY); os.close(fd)\n\
         fd = os.open('ex', os.O_WRONLY | os.O_CREAT | os.O_EXCL); os.close(fd)\n\
         open('r.tmp', 'w').write('{}'); os.replace('r.tmp', 'r.json')\n\
         os.rename('old', 'new')\n\
         os.makedirs('a/b/c'); open('a/b/c/f', 'w').close(); os.rename('a', 'z')\n\
         os.listdir('.'); os.scandir('z')\n\
         os.symlink('in.txt', 'ln'); open('ln').read(); os.unlink('ln')\n\
         os.link('in.txt', 'hard')\n\
         os.truncate('tr', 1)\n\
         import shutil; shutil.copy('in.txt', 'copy.txt'); shutil.rmtree('gone')\n",
        &|d| {
            for f in [
                "in.txt", "t", "u", "ap", "wo", "old", "tr", "gone/x", "gone/y/z",
            ] {
                write(d, f, "data");
            }
        },
    );
}

#[test]
fn shell_and_coreutils() {
    same(
        "shell",
        &[
            "sh",
            "-c",
            "cat a | tr a-z A-Z > b; cat a >> log; cp a c; mv c d; rm d; mkdir -p e/f; \
             touch e/f/g; ln -s a s; cat s > /dev/null; rm -r e; truncate -s 1 log; \
             ls > /dev/null; exec sh -c 'cat a > chained'",
        ],
        &|d| {
            write(d, "a", "hello");
            write(d, "log", "old\n");
        },
    );
}

#[test]
fn dirfd_chdir_and_failures() {
    same_py(
        "dirfd",
        "import os\n\
         d = os.open('d1', os.O_RDONLY | os.O_DIRECTORY)\n\
         os.read(os.open('in.txt', os.O_RDONLY, dir_fd=d), 9)\n\
         os.chdir('d2'); open('out.txt', 'w').write('y'); os.chdir('..')\n\
         os.close(os.open('../d1/./sub_out', os.O_WRONLY | os.O_CREAT, dir_fd=d))\n\
         os.mkdir('nd', dir_fd=d); os.rmdir('nd', dir_fd=d)\n\
         os.unlink('del', dir_fd=d)\n\
         for p in ('missing', 'nodir/x', 'd1/nothere'):\n    try: open(p)\n    except OSError: pass\n\
         for f, p in [(os.unlink, 'missing'), (os.rmdir, 'd2'), (os.unlink, 'd1')]:\n    try: f(p)\n    except OSError: pass\n\
         fd = os.open('d1', os.O_RDONLY); os.listdir(fd); os.close(fd)\n",
        &|d| {
            write(d, "d1/in.txt", "x");
            write(d, "d1/del", "x");
            write(d, "d2/keep", "k");
        },
    );
}
