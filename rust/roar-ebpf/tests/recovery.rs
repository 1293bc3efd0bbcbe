//! A job whose client dies is kept traced and its records held for a claim; a client that
//! stops waiting for processes left running ends the job at once. Real BPF (root), real
//! processes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{cfg_in, service, tmpdir};
use roar_ebpf::proto::{CLAIM_FORGET, CLAIM_PEEK, CLAIM_WAIT};
use roar_ebpf::{claim, spawn, Claimed};
use roar_trace_format::Recovery;

const HELPER_TOKEN: &str = "ROAR_TEST_RECOVERY_TOKEN";
const HELPER_DIR: &str = "ROAR_TEST_RECOVERY_DIR";
const SCRIPT: &str = "echo a > a; while [ ! -e go ]; do sleep 0.01; done; echo b > b; exit 3";

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn names(s: &roar_ebpf::Summary, dir: &Path) -> Vec<String> {
    s.letters_under(dir).into_iter().map(|(p, _)| p).collect()
}

/// Not a test on its own: a client that starts a recoverable job and is then killed.
#[test]
#[ignore]
fn helper_dies_while_tracing() {
    let (Some(token), Some(dir)) = (std::env::var_os(HELPER_TOKEN), std::env::var_os(HELPER_DIR))
    else {
        return;
    };
    let dir = PathBuf::from(dir);
    let mut c = cfg_in(&dir, &["sh", "-c", SCRIPT]);
    c.recovery = Some(Recovery {
        token: token.to_string_lossy().into_owned(),
        summary_file: None,
    });
    let _job = spawn(&c).expect("spawn");
    wait_until("a", Duration::from_secs(20), || dir.join("a").exists());
    // SAFETY: killing this very process, as `kill -9` of roar would.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
}

/// Run the helper against this binary's service; returns once it has been killed.
fn orphan(name: &str) -> (String, PathBuf) {
    service();
    let dir = tmpdir(name);
    let token = format!("test-{}-{name}", std::process::id());
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
    (token, dir)
}

fn check(s: &roar_ebpf::Summary, dir: &Path) {
    assert_eq!(names(s, dir), vec!["a".to_string(), "b".to_string()]);
    assert_eq!((s.exit_code, s.exit_known), (3, true)); // the root's exit record
    assert!(s.incomplete.as_deref().unwrap_or("").contains("recovered"));
}

#[test]
fn a_job_whose_client_died_is_traced_on_and_held_for_a_claim() {
    let (token, dir) = orphan("held");
    // Still traced, still running (it waits for `go`): a peek says so and takes nothing.
    assert!(matches!(claim(&token, CLAIM_PEEK), Ok(Claimed::Pending)));
    std::fs::write(dir.join("go"), "").expect("go");
    let t = Instant::now();
    let s = loop {
        match claim(&token, CLAIM_PEEK).expect("claim") {
            Claimed::Pending => {
                assert!(t.elapsed() < Duration::from_secs(30), "never ended");
                std::thread::sleep(Duration::from_millis(20));
            }
            Claimed::Found(s) => break s,
            other => panic!("{other:?}"),
        }
    };
    check(&s, &dir);
    // Held until forgotten: a second claim gets the same again.
    let Ok(Claimed::Found(again)) = claim(&token, CLAIM_PEEK) else {
        panic!("held until forgotten");
    };
    assert_eq!(again.files, s.files);
    assert!(matches!(
        claim(&token, CLAIM_FORGET),
        Ok(Claimed::Forgotten)
    ));
    assert!(matches!(claim(&token, CLAIM_PEEK), Ok(Claimed::Unknown(_))));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_waiting_claim_follows_the_job_to_its_end() {
    let (token, dir) = orphan("wait");
    let go = dir.join("go");
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        std::fs::write(go, "").expect("go");
    });
    let Ok(Claimed::Found(s)) = claim(&token, CLAIM_WAIT) else {
        panic!("a waiting claim gets the whole job");
    };
    t.join().expect("writer");
    check(&s, &dir);
    assert!(matches!(
        claim(&token, CLAIM_FORGET),
        Ok(Claimed::Forgotten)
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_job_whose_client_said_bye_is_forgotten() {
    service();
    let dir = tmpdir("bye");
    let token = format!("test-{}-bye", std::process::id());
    let mut c = cfg_in(&dir, &["sh", "-c", "echo a > a"]);
    c.recovery = Some(Recovery {
        token: token.clone(),
        summary_file: None,
    });
    let s = spawn(&c)
        .expect("spawn")
        .wait_timeout(Some(Duration::from_secs(30)))
        .expect("done");
    assert_eq!(names(&s, &dir), vec!["a".to_string()]);
    // BYE follows the summary: give it a moment to arrive.
    wait_until("the service to forget", Duration::from_secs(10), || {
        matches!(claim(&token, CLAIM_PEEK), Ok(Claimed::Unknown(_)))
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn finish_now_ends_the_job_and_lets_a_process_left_running_go() {
    service();
    let dir = tmpdir("leftover");
    let job = spawn(&cfg_in(
        &dir,
        &[
            "sh",
            "-c",
            "echo a > a; (sleep 0.2; echo b > b; exec sleep 30) & exit 2",
        ],
    ))
    .expect("spawn");
    wait_until("the root's end", Duration::from_secs(20), || {
        job.root_exit().is_some()
    });
    assert_eq!(job.root_exit(), Some((2, None)));
    wait_until("b", Duration::from_secs(20), || dir.join("b").exists());
    let running = job.running_pids();
    assert_eq!(running.len(), 1, "{running:?}");
    job.finish_now();
    let s = job
        .wait_timeout(Some(Duration::from_secs(20)))
        .expect("summary after finish_now");
    assert!(job.is_done());
    assert_eq!((s.exit_code, s.exit_known), (2, true));
    assert!(s.incomplete.is_some());
    assert_eq!(names(&s, &dir), vec!["a".to_string(), "b".to_string()]);
    assert!(Path::new(&format!("/proc/{}", running[0])).exists());
    // SAFETY: killing the process this test started.
    unsafe { libc::kill(running[0], libc::SIGKILL) };
    let _ = std::fs::remove_dir_all(&dir);
}
