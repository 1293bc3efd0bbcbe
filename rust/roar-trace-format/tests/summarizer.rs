use roar_trace_format::{Event, FileAccess, OpenFlags, RawPath, RunInfo, Summarizer, Summary};

fn p(s: &str) -> RawPath {
    RawPath::from(s)
}

const RD: OpenFlags = OpenFlags {
    read: true,
    write: false,
    create: false,
    truncate: false,
    append: false,
    exclusive: false,
    directory: false,
    path_only: false,
    tmpfile: false,
};

fn wr(create: bool, truncate: bool) -> OpenFlags {
    OpenFlags {
        read: false,
        write: true,
        create,
        truncate,
        ..RD
    }
}

fn open(path: &str, flags: OpenFlags, result: i64, existed: Option<bool>) -> Event {
    Event::Open {
        pid: 1,
        path: p(path),
        flags,
        result,
        existed_before: existed,
        mtime_ns_before: if existed == Some(true) {
            Some(42)
        } else {
            None
        },
        is_dir: false,
    }
}

fn run(events: Vec<Event>) -> Summary {
    let mut s = Summarizer::new("test");
    for e in events {
        s.push(e);
    }
    s.finish(RunInfo::default())
}

fn f<'a>(s: &'a Summary, path: &str) -> &'a FileAccess {
    match s.file(path) {
        Some(f) => f,
        None => panic!("{path} missing from {:?}", s.files),
    }
}

fn flags(fa: &FileAccess) -> String {
    let mut out = String::new();
    for (on, c) in [
        (fa.read, 'r'),
        (fa.write, 'w'),
        (fa.create, 'c'),
        (fa.delete, 'd'),
        (fa.exec, 'x'),
        (fa.dir_list, 'l'),
    ] {
        if on {
            out.push(c);
        }
    }
    out
}

#[test]
fn read_only_open_is_read() {
    let s = run(vec![open("/a", RD, 3, None)]);
    assert_eq!(flags(f(&s, "/a")), "r");
}

#[test]
fn failed_open_is_nothing() {
    let s = run(vec![
        open("/a", RD, -2, None),
        open("/b", wr(true, true), -13, Some(false)),
    ]);
    assert!(s.files.is_empty());
}

#[test]
fn trunc_is_write_only() {
    let rdwr_trunc = OpenFlags {
        read: true,
        ..wr(false, true)
    };
    let s = run(vec![
        open("/a", rdwr_trunc, 3, Some(true)),
        open("/b", wr(true, true), 3, Some(true)),
    ]);
    assert_eq!(flags(f(&s, "/a")), "w");
    assert_eq!(flags(f(&s, "/b")), "w");
    assert_eq!(f(&s, "/a").mtime_ns_before, None);
}

#[test]
fn creat_new_is_create_write() {
    let s = run(vec![open("/a", wr(true, true), 3, Some(false))]);
    assert_eq!(flags(f(&s, "/a")), "wc");
}

#[test]
fn rdwr_existing_is_update() {
    let rdwr = OpenFlags {
        read: true,
        ..wr(false, false)
    };
    let append = OpenFlags {
        append: true,
        ..wr(true, false)
    };
    let s = run(vec![
        open("/a", rdwr, 3, Some(true)),
        open("/b", append, 3, Some(true)),
    ]);
    assert_eq!(flags(f(&s, "/a")), "rw");
    assert_eq!(f(&s, "/a").mtime_ns_before, Some(42));
    assert_eq!(flags(f(&s, "/b")), "rw");
    // Appending to a file that did not exist creates it: no read.
    let s = run(vec![open("/c", append, 3, Some(false))]);
    assert_eq!(flags(f(&s, "/c")), "wc");
}

#[test]
fn read_after_own_write_is_not_input() {
    let s = run(vec![
        open("/a", wr(true, true), 3, Some(false)),
        open("/a", RD, 3, None),
    ]);
    assert_eq!(flags(f(&s, "/a")), "wc");
    let s = run(vec![
        open("/a", wr(true, true), 3, Some(true)),
        open("/a", RD, 3, None),
    ]);
    assert_eq!(flags(f(&s, "/a")), "w");
}

#[test]
fn read_then_write_keeps_read() {
    let s = run(vec![
        open("/a", RD, 3, None),
        open("/a", wr(true, true), 3, Some(true)),
    ]);
    assert_eq!(flags(f(&s, "/a")), "rw");
}

#[test]
fn path_only_and_tmpfile_are_nothing() {
    let s = run(vec![
        open(
            "/a",
            OpenFlags {
                path_only: true,
                ..RD
            },
            3,
            None,
        ),
        open(
            "/d",
            OpenFlags {
                tmpfile: true,
                ..wr(false, false)
            },
            3,
            None,
        ),
    ]);
    assert!(s.files.is_empty());
}

#[test]
fn directory_open_is_dir_list() {
    let s = run(vec![open(
        "/d",
        OpenFlags {
            directory: true,
            ..RD
        },
        3,
        None,
    )]);
    let d = f(&s, "/d");
    assert_eq!(flags(d), "l");
    assert!(d.is_dir);
}

#[test]
fn temp_then_rename_is_write_of_final_name() {
    let s = run(vec![
        open("/out.tmp", wr(true, true), 3, Some(false)),
        Event::Rename {
            pid: 1,
            from: p("/out.tmp"),
            to: p("/out"),
            to_existed_before: false,
            exchange: false,
        },
    ]);
    assert!(s.file("/out.tmp").is_none());
    assert_eq!(flags(f(&s, "/out")), "wc");
    assert_eq!(s.renames.len(), 1);
    // Over an existing file: a write, not a create.
    let s = run(vec![
        open("/out.tmp", wr(true, true), 3, Some(false)),
        Event::Rename {
            pid: 1,
            from: p("/out.tmp"),
            to: p("/out"),
            to_existed_before: true,
            exchange: false,
        },
    ]);
    assert_eq!(flags(f(&s, "/out")), "w");
}

#[test]
fn rename_of_preexisting_is_delete_plus_write() {
    let s = run(vec![Event::Rename {
        pid: 1,
        from: p("/a"),
        to: p("/b"),
        to_existed_before: false,
        exchange: false,
    }]);
    assert_eq!(flags(f(&s, "/a")), "d");
    assert_eq!(flags(f(&s, "/b")), "wc");
}

#[test]
fn rename_exchange_swaps() {
    let s = run(vec![
        open("/a", wr(true, true), 3, Some(false)),
        open("/b", RD, 3, None),
        Event::Rename {
            pid: 1,
            from: p("/a"),
            to: p("/b"),
            to_existed_before: true,
            exchange: true,
        },
    ]);
    assert_eq!(flags(f(&s, "/a")), "wc");
    assert_eq!(flags(f(&s, "/b")), "rw");
}

#[test]
fn rename_directory_moves_outputs() {
    let s = run(vec![
        Event::Mkdir {
            pid: 1,
            path: p("/t"),
        },
        open("/t/x", wr(true, true), 3, Some(false)),
        Event::Rename {
            pid: 1,
            from: p("/t"),
            to: p("/final"),
            to_existed_before: false,
            exchange: false,
        },
    ]);
    assert!(s.file("/t/x").is_none());
    assert!(s.file("/t").is_none());
    assert_eq!(flags(f(&s, "/final/x")), "wc");
    assert!(f(&s, "/final").is_dir);
}

#[test]
fn unlink_created_keeps_both_flags() {
    let s = run(vec![
        open("/a", wr(true, true), 3, Some(false)),
        Event::Unlink {
            pid: 1,
            path: p("/a"),
        },
        Event::Unlink {
            pid: 1,
            path: p("/b"),
        },
    ]);
    assert_eq!(flags(f(&s, "/a")), "wcd");
    assert_eq!(flags(f(&s, "/b")), "d");
}

#[test]
fn delete_then_recreate_is_write_not_create() {
    let s = run(vec![
        Event::Unlink {
            pid: 1,
            path: p("/a"),
        },
        open("/a", wr(true, true), 3, Some(false)),
    ]);
    assert_eq!(flags(f(&s, "/a")), "w");
}

#[test]
fn dirs_links_truncate_exec_copy() {
    let s = run(vec![
        Event::Mkdir {
            pid: 1,
            path: p("/d"),
        },
        Event::Rmdir {
            pid: 1,
            path: p("/e"),
        },
        Event::Link {
            pid: 1,
            to: p("/l"),
        },
        Event::Symlink {
            pid: 1,
            to: p("/s"),
        },
        Event::Truncate {
            pid: 1,
            path: p("/t"),
        },
        Event::Exec {
            pid: 1,
            path: p("/bin/x"),
        },
        Event::CopyRange {
            pid: 1,
            from: Some(p("/src")),
            to: Some(p("/dst")),
        },
        Event::CopyRange {
            pid: 1,
            from: None,
            to: None,
        },
    ]);
    assert_eq!(flags(f(&s, "/d")), "c");
    assert!(f(&s, "/d").is_dir);
    assert_eq!(flags(f(&s, "/e")), "d");
    assert!(f(&s, "/e").is_dir);
    assert_eq!(flags(f(&s, "/l")), "wc");
    assert_eq!(flags(f(&s, "/s")), "c");
    assert_eq!(flags(f(&s, "/t")), "w");
    assert_eq!(flags(f(&s, "/bin/x")), "x");
    assert_eq!(flags(f(&s, "/src")), "r");
    assert_eq!(flags(f(&s, "/dst")), "w");
}

#[test]
fn processes_and_json_shape() {
    let s = run(vec![
        Event::ProcessStart { pid: 2, ppid: 1 },
        Event::ProcessExec {
            pid: 2,
            argv: vec![p("true")],
            exe: Some(p("/bin/true")),
        },
        Event::ProcessExit {
            pid: 2,
            exit_code: Some(0),
            signal: None,
        },
        Event::Warning {
            message: "w".into(),
        },
        Event::Warning {
            message: "w".into(),
        },
        open("/a\u{e9}", RD, 3, None),
        open("/b", RD, 3, None),
    ]);
    assert_eq!(s.processes.len(), 1);
    assert_eq!(s.warnings, vec!["w".to_string()]);
    let json = s.to_json();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    assert_eq!(v["format"], "roar-access-summary");
    assert_eq!(v["version"], 1);
    assert_eq!(v["files"][0]["path"], "/a\u{e9}");
    assert_eq!(v["files"][0]["read"], true);
    assert_eq!(v["processes"][0]["argv"][0], "true");
    assert_eq!(v["stats"]["events"], 7);
    assert!(v["exit_signal"].is_null());
    let back: Summary = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, s);
}

#[test]
fn non_utf8_path_is_surrogate_escaped() {
    let s = run(vec![Event::Open {
        pid: 1,
        path: RawPath(b"/x\xff".to_vec()),
        flags: RD,
        result: 3,
        existed_before: None,
        mtime_ns_before: None,
        is_dir: false,
    }]);
    assert!(s.to_json().contains("\"path\":\"/x\\udcff\""));
}

#[test]
fn delete_of_a_path_that_still_exists_is_dropped() {
    let dir = std::env::temp_dir().join(format!("roar-fmt-del-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("full")).expect("mkdir");
    std::fs::write(dir.join("kept"), "x").expect("write");
    std::fs::write(dir.join("read_kept"), "x").expect("write");
    let d = dir.to_str().expect("utf-8 temp dir").to_string();
    let s = run(vec![
        // A failed rmdir (ENOTEMPTY) and a failed unlink: nothing remains.
        Event::Rmdir {
            pid: 1,
            path: p(&format!("{d}/full")),
        },
        Event::Unlink {
            pid: 1,
            path: p(&format!("{d}/kept")),
        },
        // A read, then a failed unlink: the read stays.
        open(&format!("{d}/read_kept"), RD, 3, None),
        Event::Unlink {
            pid: 1,
            path: p(&format!("{d}/read_kept")),
        },
        // A temporary made and removed (gone at the end): kept as is.
        open(&format!("{d}/gone"), wr(true, true), 3, Some(false)),
        Event::Unlink {
            pid: 1,
            path: p(&format!("{d}/gone")),
        },
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(s.file(&format!("{d}/full")).is_none());
    assert!(s.file(&format!("{d}/kept")).is_none());
    assert_eq!(flags(f(&s, &format!("{d}/read_kept"))), "r");
    assert_eq!(flags(f(&s, &format!("{d}/gone"))), "wcd");
}

#[test]
fn letters_render_flags_in_a_fixed_order() {
    let mut s = Summarizer::new("test");
    s.push(Event::Open {
        pid: 1,
        path: RawPath::new(&b"/w/new"[..]),
        flags: OpenFlags::from_raw(libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC),
        result: 3,
        existed_before: Some(false),
        mtime_ns_before: None,
        is_dir: false,
    });
    s.push(Event::Open {
        pid: 1,
        path: RawPath::new(&b"/elsewhere/in"[..]),
        flags: OpenFlags::from_raw(libc::O_RDONLY),
        result: 4,
        existed_before: Some(true),
        mtime_ns_before: None,
        is_dir: false,
    });
    let sum = s.finish(RunInfo::default());
    assert_eq!(sum.letters_of("/w/new"), "wc");
    assert_eq!(sum.letters_of("/w/missing"), "-");
    assert_eq!(
        sum.letters_under(std::path::Path::new("/w")),
        vec![("new".to_string(), "wc".to_string())]
    );
}

#[test]
fn raw_open_flags_decode_access_mode_and_tmpfile() {
    let rdwr_trunc = OpenFlags::from_raw(libc::O_RDWR | libc::O_TRUNC);
    assert!(rdwr_trunc.read && rdwr_trunc.write && rdwr_trunc.truncate);
    let tmp = OpenFlags::from_raw(libc::O_TMPFILE | libc::O_WRONLY);
    assert!(
        tmp.tmpfile && !tmp.directory,
        "O_TMPFILE includes the O_DIRECTORY bit"
    );
    assert!(OpenFlags::from_raw(libc::O_PATH).path_only);
}
