//! Run the loader service in the foreground:
//! `cargo run -p roar-ebpf --example serve -- [SOCKET] [IDLE_SECONDS]`
//! (default this build's socket, `roar_ebpf::socket_path()`, 600 s). Root
//! needed. SIGTERM stops it once its jobs finish (at most 60 s).

use std::path::PathBuf;
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let sock = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(roar_ebpf::socket_path);
    let idle = args.next().and_then(|s| s.parse().ok()).unwrap_or(600);
    eprintln!("roar eBPF service on {} (idle {idle} s)", sock.display());
    if let Err(e) = roar_ebpf::serve(&sock, Duration::from_secs(idle), Duration::from_secs(60)) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
