//! The eBPF backend (being built: see issue 3).

use std::path::Path;
use std::time::Duration;

use roar_trace_format::{Job, SpawnConfig, SpawnError};

/// Whether this build can trace with eBPF; `Err` says why not.
pub fn availability() -> Result<(), String> {
    Err("the eBPF backend is not built yet".into())
}

/// Start `cfg.argv` traced by the eBPF loader service.
pub fn spawn(_cfg: &SpawnConfig) -> Result<Job, SpawnError> {
    Err(SpawnError::Unavailable(
        availability().err().unwrap_or_default(),
    ))
}

/// Run the long-lived loader service on `socket` until idle for `idle`.
pub fn serve(_socket: &Path, _idle: Duration) -> Result<(), SpawnError> {
    Err(SpawnError::Unavailable(
        availability().err().unwrap_or_default(),
    ))
}
