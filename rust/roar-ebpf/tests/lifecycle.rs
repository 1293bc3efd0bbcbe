//! The service's life: a client without a service is told why; the service
//! exits when idle. (No shared service in this test binary.)

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

#[test]
fn spawn_without_a_service_says_why() {
    std::env::set_var(roar_ebpf::SOCKET_ENV, "/nonexistent/roar-ebpf.sock");
    let cfg = roar_ebpf::SpawnConfig::new(vec!["true".into()]);
    match roar_ebpf::spawn(&cfg) {
        Err(roar_ebpf::SpawnError::Unavailable(m)) => {
            let sock = roar_ebpf::socket_path();
            assert!(
                sock.starts_with("/nonexistent")
                    && sock != Path::new("/nonexistent/roar-ebpf.sock")
            );
            assert!(
                m.contains("not running")
                    && m.contains(&sock.display().to_string())
                    && m.contains("/nonexistent/roar-ebpf.sock"),
                "{m}"
            )
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("spawn succeeded without a service"),
    }
}

#[test]
fn the_service_exits_when_idle() {
    roar_ebpf::availability().expect("this build must include eBPF");
    let sock = std::env::temp_dir().join(format!("roar-ebpf-idle-{}.sock", std::process::id()));
    let t = Instant::now();
    let r = roar_ebpf::serve(&sock, Duration::from_millis(500), Duration::ZERO);
    assert!(r.is_ok(), "{:?}", r.err().map(|e| e.to_string()));
    assert!(t.elapsed() < Duration::from_secs(60));
    assert!(!sock.exists(), "the socket is removed");
}

#[test]
fn a_second_service_on_a_socket_leaves_the_first_alone() {
    roar_ebpf::availability().expect("this build must include eBPF");
    let sock = std::env::temp_dir().join(format!("roar-ebpf-two-{}.sock", std::process::id()));
    let s = sock.clone();
    let first = std::thread::spawn(move || {
        roar_ebpf::serve(&s, Duration::from_secs(3), Duration::ZERO).map_err(|e| e.to_string())
    });
    // The second starts while the first loads: it waits for the lock, sees
    // the first serving, and leaves.
    std::thread::sleep(Duration::from_millis(50));
    let second = roar_ebpf::serve(&sock, Duration::from_secs(3), Duration::ZERO);
    match second {
        Err(roar_ebpf::SpawnError::Io(e)) => {
            assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
            assert!(
                e.to_string()
                    .contains(&format!("pid {}", std::process::id())),
                "{e}"
            );
        }
        other => panic!(
            "the second service did not refuse: {:?}",
            other.map_err(|e| e.to_string())
        ),
    }
    let t = Instant::now();
    assert!(UnixStream::connect(&sock).is_ok(), "the first still serves");
    assert_eq!(
        std::fs::read_to_string(sock.with_extension("pid")).expect("pid file"),
        std::process::id().to_string()
    );
    assert_eq!(
        std::fs::read_to_string(sock.with_extension("version")).expect("version file"),
        roar_ebpf::version()
    );
    let r = first.join().expect("first");
    assert!(r.is_ok(), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(60));
    assert!(!sock.exists() && !sock.with_extension("pid").exists());
    assert!(!sock.with_extension("version").exists());
    let _ = std::fs::remove_file(sock.with_extension("lock"));
}
