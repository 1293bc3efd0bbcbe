//! The service's life: a client without a service is told why; the service
//! exits when idle. (No shared service in this test binary.)

use std::time::{Duration, Instant};

#[test]
fn spawn_without_a_service_says_why() {
    std::env::set_var(roar_ebpf::SOCKET_ENV, "/nonexistent/roar-ebpf.sock");
    let cfg = roar_ebpf::SpawnConfig::new(vec!["true".into()]);
    match roar_ebpf::spawn(&cfg) {
        Err(roar_ebpf::SpawnError::Unavailable(m)) => {
            assert!(
                m.contains("not running") && m.contains("/nonexistent/roar-ebpf.sock"),
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
    let r = roar_ebpf::serve(&sock, Duration::from_millis(500));
    assert!(r.is_ok(), "{:?}", r.err().map(|e| e.to_string()));
    assert!(t.elapsed() < Duration::from_secs(60));
    assert!(!sock.exists(), "the socket is removed");
}
