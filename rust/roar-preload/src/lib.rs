//! The LD_PRELOAD backend (being built: see issue 3).

use roar_trace_format::{Job, SpawnConfig, SpawnError};

/// Whether this build can trace with preload; `Err` says why not.
pub fn availability() -> Result<(), String> {
    Err("the preload backend is not built yet".into())
}

/// Start `cfg.argv` with the preload library injected.
pub fn spawn(_cfg: &SpawnConfig) -> Result<Job, SpawnError> {
    Err(SpawnError::Unavailable(
        availability().err().unwrap_or_default(),
    ))
}
