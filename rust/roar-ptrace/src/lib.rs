//! The ptrace backend: runs a command under a seccomp-filtered ptrace tracer
//! and returns the normalized access summary (see README.md). [`attach`]
//! traces a process that is already running instead (attach mode).
//!
//! ```no_run
//! let cfg = roar_ptrace::SpawnConfig::new(vec!["true".into()]);
//! let summary = roar_ptrace::spawn(&cfg).expect("spawn").wait();
//! assert_eq!(summary.exit_code, 0);
//! ```

use std::fmt;
use std::sync::mpsc;

pub use attach::{attach, Detacher};
use roar_trace_format::{start_control, Collector};
pub use roar_trace_format::{Job, SpawnConfig, SpawnError, Summary};

mod attach;
mod child;
mod filter;
mod latency;
mod mem;
mod regs;
mod resolve;
mod tracer;
mod wait;

#[derive(Debug)]
pub enum Error {
    /// Bad configuration (empty argv, a NUL byte in an argument…).
    InvalidArgument(String),
    /// The kernel refused ptrace (container seccomp profile, Yama, …).
    PtraceNotPermitted(std::io::Error),
    /// Any other failure to start the tracer.
    Io(std::io::Error),
    /// Attach mode could not attach to process `pid` (`errno` says how:
    /// `ESRCH` no such process, `EPERM` not permitted…).
    Attach {
        pid: i32,
        errno: i32,
        detail: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::PtraceNotPermitted(e) => write!(
                f,
                "ptrace is not permitted here ({e}); check kernel.yama.ptrace_scope and the container's seccomp profile, or use another tracer backend"
            ),
            Error::Io(e) => write!(f, "cannot start the ptrace tracer: {e}"),
            Error::Attach { pid, detail, .. } => {
                write!(f, "cannot attach the ptrace tracer to process {pid}: {detail}")
            }
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for SpawnError {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidArgument(m) => SpawnError::InvalidArgument(m),
            Error::PtraceNotPermitted(_) => SpawnError::Unavailable(e.to_string()),
            Error::Io(e) => SpawnError::Io(e),
            Error::Attach { errno, .. } => SpawnError::Io(std::io::Error::new(
                std::io::Error::from_raw_os_error(errno).kind(),
                e.to_string(),
            )),
        }
    }
}

/// Start `cfg.argv` under the tracer. Returns once the child exists and is
/// traced (a few ms); the command runs while the caller waits.
pub fn spawn(cfg: &SpawnConfig) -> Result<Job, Error> {
    let collector = Collector::new("ptrace");
    // No log to recover from: PTRACE_O_EXITKILL kills the tree with its
    // tracer. Only the finished summary is kept.
    collector.set_summary_file(cfg.recovery.as_ref().and_then(|r| r.summary_file.clone()));
    let (env, control) = start_control(cfg, &collector).map_err(|e| match e {
        SpawnError::Io(e) => Error::Io(e),
        other => Error::Io(std::io::Error::other(other.to_string())),
    })?;
    let prepared = child::Prepared::new(&SpawnConfig { env, ..cfg.clone() })?;
    if cfg.intervals {
        // Keep idle CPUs polling only while a cell runs, not for the kernel's life.
        let held = std::sync::Mutex::new(None);
        collector.set_interval_hook(Box::new(move |open| {
            *held.lock().unwrap_or_else(|p| p.into_inner()) =
                open.then(latency::LatencyRequest::acquire);
        }));
    }
    let (tx, rx) = mpsc::sync_channel(1);
    let sink = std::sync::Arc::clone(&collector);
    let long_lived = cfg.intervals;
    std::thread::Builder::new()
        .name("roar-ptrace".into())
        .spawn(move || tracer::run(prepared, tx, sink, long_lived))
        .map_err(Error::Io)?;
    match rx.recv() {
        Ok(Ok(pid)) => {
            if let Some(c) = &control {
                c.set_root_pid(pid);
            }
            Ok(Job::new(pid, collector, control))
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::Io(std::io::Error::other(
            "the tracer thread ended before the command started",
        ))),
    }
}
