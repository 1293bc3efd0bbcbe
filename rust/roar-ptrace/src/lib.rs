//! The ptrace backend: runs a command under a seccomp-filtered ptrace tracer
//! and returns the normalized access summary (see README.md).
//!
//! ```no_run
//! let cfg = roar_ptrace::SpawnConfig::new(vec!["true".into()]);
//! let summary = roar_ptrace::spawn(&cfg).expect("spawn").wait();
//! assert_eq!(summary.exit_code, 0);
//! ```

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub use roar_trace_format::Summary;

mod child;
mod filter;
mod mem;
mod regs;
mod resolve;
mod tracer;
mod wait;

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct SpawnConfig {
    /// The command; `argv[0]` is looked up in the `PATH` of `env` when it
    /// has no slash.
    pub argv: Vec<OsString>,
    /// The complete environment of the command.
    pub env: Vec<(OsString, OsString)>,
    /// Working directory (default: the caller's).
    pub cwd: Option<PathBuf>,
}

impl SpawnConfig {
    /// `argv` with the caller's environment and working directory.
    pub fn new(argv: Vec<OsString>) -> Self {
        SpawnConfig {
            argv,
            env: std::env::vars_os().collect(),
            cwd: None,
        }
    }
}

#[derive(Debug)]
pub enum Error {
    /// Bad configuration (empty argv, a NUL byte in an argument…).
    InvalidArgument(String),
    /// The kernel refused ptrace (container seccomp profile, Yama, …).
    PtraceNotPermitted(std::io::Error),
    /// Any other failure to start the tracer.
    Io(std::io::Error),
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
        }
    }
}

impl std::error::Error for Error {}

#[derive(Default)]
struct Shared {
    done: Mutex<Option<Summary>>,
    cond: Condvar,
}

impl Shared {
    fn publish(&self, s: Summary) {
        let mut g = self.done.lock().unwrap_or_else(|p| p.into_inner());
        *g = Some(s);
        self.cond.notify_all();
    }
}

/// A command running under the tracer.
pub struct Tracee {
    pid: i32,
    shared: Arc<Shared>,
}

impl Tracee {
    /// The root process id (signals sent to it reach the command).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Blocks until every traced process has exited.
    pub fn wait(self) -> Summary {
        loop {
            if let Some(s) = self.wait_timeout(None) {
                return s;
            }
        }
    }

    /// The summary once the whole tree has exited, or `None` after
    /// `timeout` (`None`: wait forever). May be called repeatedly.
    pub fn wait_timeout(&self, timeout: Option<Duration>) -> Option<Summary> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut g = self.shared.done.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(s) = g.as_ref() {
                return Some(s.clone());
            }
            match deadline {
                None => g = self.shared.cond.wait(g).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return None;
                    }
                    g = self
                        .shared
                        .cond
                        .wait_timeout(g, d - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
    }

    /// True once the summary is ready.
    pub fn is_done(&self) -> bool {
        self.shared
            .done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
}

/// Start `cfg.argv` under the tracer. Returns once the child exists and is
/// traced (a few ms); the command runs while the caller waits.
pub fn spawn(cfg: &SpawnConfig) -> Result<Tracee, Error> {
    let prepared = child::Prepared::new(cfg)?;
    let shared = Arc::new(Shared::default());
    let (tx, rx) = mpsc::sync_channel(1);
    let sh = Arc::clone(&shared);
    std::thread::Builder::new()
        .name("roar-ptrace".into())
        .spawn(move || tracer::run(prepared, tx, sh))
        .map_err(Error::Io)?;
    match rx.recv() {
        Ok(Ok(pid)) => Ok(Tracee { pid, shared }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::Io(std::io::Error::other(
            "the tracer thread ended before the command started",
        ))),
    }
}
