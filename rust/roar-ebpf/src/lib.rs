//! The eBPF tracer backend (see README.md).
//!
//! A long-lived loader service ([`serve`]) keeps the BPF programs attached
//! across jobs; [`spawn`] is its client: it starts the command paused, has
//! the service trace its pid, and folds the records the service streams
//! back into the job's summary.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

pub use client::Attached;
pub use roar_trace_format::{Job, SpawnConfig, SpawnError, Summary};

mod child;
mod client;
pub mod events;
mod object;
pub mod proto;
mod service;

/// The service's socket unless `ROAR_EBPF_SOCKET` names another.
pub const DEFAULT_SOCKET: &str = "/run/roar/ebpf.sock";
/// Environment variable naming the service's socket (client side).
pub const SOCKET_ENV: &str = "ROAR_EBPF_SOCKET";

/// The socket a client connects to.
pub fn socket_path() -> PathBuf {
    std::env::var_os(SOCKET_ENV)
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// This build's protocol version: the crate version, the wire protocol's
/// revision ([`proto::PROTOCOL`]) and a hash of the BPF object (a service
/// and a client must agree on the messages and the record layout).
pub fn version() -> String {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in object::OBJECT {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!(
            "{}-p{}-{h:016x}",
            env!("CARGO_PKG_VERSION"),
            proto::PROTOCOL
        )
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

/// Run the long-lived loader service on `socket` until it has had no job
/// for `idle`: loads and attaches the BPF programs once (mounting tracefs
/// when needed), then traces jobs for clients (see README.md).
pub fn serve(socket: &Path, idle: Duration) -> Result<(), SpawnError> {
    availability().map_err(SpawnError::Unavailable)?;
    service::serve(socket, idle)
}
