//! The eBPF tracer backend (see README.md).
//!
//! A long-lived loader service ([`serve`]) keeps the BPF programs attached
//! across jobs; [`spawn`] is its client: it starts the command paused, has
//! the service trace its pid, and folds the records the service streams
//! back into the job's summary.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

pub use client::{claim, Attached, Claimed};
pub use roar_trace_format::{Job, SpawnConfig, SpawnError, Summary};

mod child;
mod client;
pub mod events;
mod object;
pub mod proto;
mod service;

/// The base of the service's socket unless `ROAR_EBPF_SOCKET` names another.
pub const DEFAULT_SOCKET: &str = "/run/roar/ebpf.sock";
/// Environment variable naming the base of the service's socket.
pub const SOCKET_ENV: &str = "ROAR_EBPF_SOCKET";
/// Test only: `ROAR_EBPF_TEST_OTHER_BUILD=X` makes this process act as
/// another roar build (`X` is appended to [`version`], so its service has
/// another socket and refuses this build's clients). Tests use it to run
/// the services of two builds side by side.
pub const TEST_OTHER_BUILD_ENV: &str = "ROAR_EBPF_TEST_OTHER_BUILD";

/// `$ROAR_EBPF_SOCKET`, else [`DEFAULT_SOCKET`]: where services live.
pub fn socket_base() -> PathBuf {
    std::env::var_os(SOCKET_ENV)
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// The socket of this build's service (clients connect to it, roar starts
/// the service on it): [`socket_base`] with this build's tag in the file
/// name, `/run/roar/ebpf.sock` → `/run/roar/ebpf-<tag>.sock`. Services of
/// different builds therefore never share (or fight over) a socket.
pub fn socket_path() -> PathBuf {
    socket_for(&socket_base())
}

/// `base` with this build's tag (12 hex digits of a hash of [`version`])
/// inserted before its extension.
pub fn socket_for(base: &Path) -> PathBuf {
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = base
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let tag = fnv64(version().as_bytes()) >> 16;
    base.with_file_name(format!("{stem}-{tag:012x}{ext}"))
}

fn fnv64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// This build's protocol version: the crate version, the wire protocol's
/// revision ([`proto::PROTOCOL`]) and a hash of the BPF object (a service
/// and a client must agree on the messages and the record layout); the
/// service writes it beside its socket (`.version`).
pub fn version() -> String {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| {
        let mut v = format!(
            "{}-p{}-{:016x}",
            env!("CARGO_PKG_VERSION"),
            proto::PROTOCOL,
            fnv64(object::OBJECT)
        );
        if let Some(other) = std::env::var_os(TEST_OTHER_BUILD_ENV).filter(|s| !s.is_empty()) {
            v.push_str("+test-");
            v.push_str(&other.to_string_lossy());
        }
        v
    })
    .clone()
}

/// Whether this build can trace with eBPF; `Err` says why not. (Whether
/// this host allows it — privileges, kernel — shows when the service loads.)
pub fn availability() -> Result<(), String> {
    match object::missing() {
        Some(why) => Err(format!("this roar was built without eBPF: {why}")),
        None if object::OBJECT.is_empty() => Err("this roar was built without eBPF".to_string()),
        None => Ok(()),
    }
}

/// Start `cfg.argv` traced by the eBPF loader service (at
/// [`socket_path`]). Returns once the command runs traced (a few ms).
pub fn spawn(cfg: &SpawnConfig) -> Result<Job, SpawnError> {
    client::spawn(cfg)
}

/// Have the loader service trace the *running* process `pid` (all its
/// threads) and every thread and process it starts, until
/// [`Attached::detach`], which returns the access summary of that span.
/// The caller may be `pid` itself.
pub fn attach(pid: i32) -> Result<Attached, SpawnError> {
    client::attach(pid)
}

/// Run the long-lived loader service on `socket` (normally [`socket_path`])
/// until it has had no job for `idle`: loads and attaches the BPF programs
/// once (mounting tracefs when needed), then traces jobs for clients (see
/// README.md).
///
/// One service per socket: the service holds an exclusive lock on
/// `<socket>.lock` while it owns the socket and its `.pid` and `.version`
/// files; a second one waits while the holder starts (or exits) and then
/// returns an `AddrInUse` error without touching the holder's files.
/// SIGTERM (from the time `serve` runs) makes it give up the socket and its
/// files at once, then finish the jobs in flight (at most `drain`; a second
/// SIGTERM ends them) before it returns.
pub fn serve(socket: &Path, idle: Duration, drain: Duration) -> Result<(), SpawnError> {
    availability().map_err(SpawnError::Unavailable)?;
    service::serve(socket, idle, drain)
}
