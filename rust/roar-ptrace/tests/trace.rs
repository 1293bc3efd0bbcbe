//! Integration tests: trace real processes.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use roar_ptrace::{spawn, SpawnConfig, Summary};

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("roar-ptrace-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    std::fs::canonicalize(&d).expect("canonicalize")
}

fn sh(dir: &Path, script: &str) -> Summary {
    let mut cfg = SpawnConfig::new(vec!["sh".into(), "-c".into(), OsString::from(script)]);
    cfg.cwd = Some(dir.to_path_buf());
    spawn(&cfg).expect("spawn").wait()
}

fn flags(s: &Summary, p: &Path) -> String {
    s.letters_of(p.to_str().unwrap_or_default())
}

#[test]
fn true_exits_zero() {
    let s = spawn(&SpawnConfig::new(vec!["true".into()]))
        .expect("spawn")
        .wait();
    assert_eq!(s.exit_code, 0);
    assert_eq!(s.exec_error, None);
    assert!(s.files.iter().any(|f| f.exec), "{:?}", s.files);
}

#[test]
fn exit_code_and_signal() {
    let d = tmpdir("exit");
    assert_eq!(sh(&d, "exit 7").exit_code, 7);
    let s = sh(&d, "kill -9 $$");
    assert_eq!(s.exit_code, 137);
    assert_eq!(s.exit_signal, Some(9));
}

#[test]
fn missing_command() {
    let s = spawn(&SpawnConfig::new(vec![
        "definitely-not-a-command-xyz".into()
    ]))
    .expect("spawn")
    .wait();
    assert_eq!(s.exit_code, 127);
    assert!(s.exec_error.is_some());
}

#[test]
fn redirect_read_write() {
    let d = tmpdir("redirect");
    std::fs::write(d.join("a"), "hello").expect("write");
    let s = sh(
        &d,
        "cat a > b; mkdir sub; echo x > sub/t.tmp; mv sub/t.tmp sub/out; rm a",
    );
    assert_eq!(flags(&s, &d.join("a")), "rd");
    assert_eq!(flags(&s, &d.join("b")), "wc");
    assert_eq!(flags(&s, &d.join("sub")), "c");
    assert_eq!(flags(&s, &d.join("sub/t.tmp")), "-");
    assert_eq!(flags(&s, &d.join("sub/out")), "wc");
    assert_eq!(s.exit_code, 0);
}

#[test]
fn grandchild_after_parent_exit() {
    let d = tmpdir("grandchild");
    let s = sh(&d, "(sleep 0.3; echo late > late.txt) & exit 3");
    assert_eq!(s.exit_code, 3);
    assert_eq!(flags(&s, &d.join("late.txt")), "wc");
}

#[test]
fn summary_is_json() {
    let d = tmpdir("json");
    let s = sh(&d, "echo hi > x");
    let v: serde_json::Value = serde_json::from_str(&s.to_json()).expect("json");
    assert_eq!(v["format"], "roar-access-summary");
    assert_eq!(v["backend"], "ptrace");
    assert!(v["stats"]["stops"].as_u64().unwrap_or(0) > 0);
    assert!(!v["processes"]
        .as_array()
        .map(|a| a.is_empty())
        .unwrap_or(true));
}
