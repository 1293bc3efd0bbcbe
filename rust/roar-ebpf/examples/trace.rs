//! Debugging aid: `cargo run -p roar-ebpf --example trace -- CMD...`
//!
//! Traces CMD with the eBPF backend and prints the access summary JSON.
//! Uses this build's service (`roar_ebpf::socket_path()`: `$ROAR_EBPF_SOCKET`,
//! default /run/roar/ebpf.sock, with the build's tag in the name);
//! when none answers there, starts one in this process on a private socket
//! (root needed). `ROAR_TRACE_REPEAT=N` runs the command N times and prints
//! the per-job wall time instead.

use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

fn main() {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if argv.is_empty() {
        eprintln!("usage: trace CMD [ARG...]");
        std::process::exit(2);
    }
    if let Err(e) = roar_ebpf::availability() {
        eprintln!("{e}");
        std::process::exit(1);
    }
    if UnixStream::connect(roar_ebpf::socket_path()).is_err() {
        let base =
            std::env::temp_dir().join(format!("roar-ebpf-example-{}.sock", std::process::id()));
        std::env::set_var(roar_ebpf::SOCKET_ENV, &base);
        let sock = roar_ebpf::socket_path();
        let s = sock.clone();
        std::thread::spawn(move || {
            if let Err(e) = roar_ebpf::serve(&s, Duration::from_secs(3600), Duration::from_secs(60))
            {
                eprintln!("service: {e}");
                std::process::exit(1);
            }
        });
        let t = Instant::now();
        while UnixStream::connect(&sock).is_err() {
            if t.elapsed() > Duration::from_secs(60) {
                eprintln!("the service did not start");
                std::process::exit(1);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!("(service started in-process in {:?})", t.elapsed());
    }
    let repeat: usize = std::env::var("ROAR_TRACE_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let cfg = roar_ebpf::SpawnConfig::new(argv);
    if repeat > 0 {
        let mut times = Vec::new();
        for _ in 0..repeat {
            let t = Instant::now();
            let s = roar_ebpf::spawn(&cfg).expect("spawn").wait();
            times.push(t.elapsed());
            assert!(s.exec_error.is_none(), "{:?}", s.exec_error);
        }
        times.sort();
        println!(
            "{} runs: min {:?} median {:?} max {:?}",
            times.len(),
            times[0],
            times[times.len() / 2],
            times[times.len() - 1]
        );
        return;
    }
    match roar_ebpf::spawn(&cfg) {
        Ok(job) => {
            let s = job.wait();
            println!("{}", s.to_json());
            std::process::exit(s.exit_code);
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
