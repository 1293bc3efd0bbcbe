//! The LD_PRELOAD backend: a shared library (`shim/roar_preload.c`)
//! injected into the whole process tree records every file access with
//! one `write(2)` to a per-job log; this crate starts the command under a
//! reaper process, reads the log and folds it into the access summary
//! (see README.md).
//!
//! ```no_run
//! let cfg = roar_preload::SpawnConfig::new(vec!["true".into()]);
//! let summary = roar_preload::spawn(&cfg).expect("spawn").wait();
//! assert_eq!(summary.exit_code, 0);
//! ```

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use roar_trace_format::{now_ns, start_control, Collector, Event, Launch, RawPath, RunInfo};
pub use roar_trace_format::{Job, SpawnConfig, SpawnError, Summary};

mod elf;
mod launch;
mod log;
mod shim;

use log::LogReader;

/// Environment variables the shim reads (and restores across execs).
pub const ENV_LOG: &str = "ROAR_PRELOAD_LOG";
pub const ENV_LIB: &str = "ROAR_PRELOAD_LIB";
const ENV_EXEC: &str = "ROAR_PRELOAD_EXEC";

/// Whether this build can trace with preload; `Err` says why not.
pub fn availability() -> Result<(), String> {
    if !cfg!(all(
        target_os = "linux",
        target_env = "gnu",
        any(target_arch = "x86_64", target_arch = "aarch64")
    )) {
        return Err("the preload backend supports glibc Linux on x86_64 and aarch64 only".into());
    }
    shim::path().map(|_| ())
}

/// The installed shim library (for debugging and tests).
pub fn library_path() -> Result<PathBuf, String> {
    shim::path().map(Path::to_path_buf)
}

/// A private directory for one job's log.
struct LogDir {
    dir: PathBuf,
    log: PathBuf,
}

impl LogDir {
    fn create() -> std::io::Result<(LogDir, File)> {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() && !shim_noaccess(shm) {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let mut last = None;
        for attempt in 0..100u32 {
            let dir = base.join(format!("roar-preload-{}-{attempt}", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {
                    let log = dir.join("events.log");
                    let f = OpenOptions::new()
                        .read(true)
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .custom_flags(libc::O_CLOEXEC)
                        .open(&log)?;
                    return Ok((LogDir { dir, log }, f));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    last = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no free log directory")))
    }
}

impl Drop for LogDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn shim_noaccess(dir: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return true;
    };
    // SAFETY: `c` is NUL-terminated.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) != 0 }
}

/// The command's environment: the shim preloaded (the user's LD_PRELOAD
/// entries kept) and the shim's variables set.
fn traced_env(
    mut env: Vec<(OsString, OsString)>,
    lib: &Path,
    log: &Path,
) -> Vec<(OsString, OsString)> {
    let existing = env
        .iter()
        .find(|(k, _)| k == "LD_PRELOAD")
        .map(|(_, v)| v.clone());
    env.retain(|(k, _)| k != "LD_PRELOAD" && k != ENV_LOG && k != ENV_LIB && k != ENV_EXEC);
    env.push((
        "LD_PRELOAD".into(),
        shim::preload_value(lib, existing.as_deref()),
    ));
    env.push((ENV_LOG.into(), log.as_os_str().to_owned()));
    env.push((ENV_LIB.into(), lib.as_os_str().to_owned()));
    env
}

/// Start `cfg.argv` with the preload library injected. Returns once the
/// command has been exec'd; the summary comes from [`Job::wait`].
pub fn spawn(cfg: &SpawnConfig) -> Result<Job, SpawnError> {
    if cfg.argv.is_empty() {
        return Err(SpawnError::InvalidArgument("empty argv".into()));
    }
    availability().map_err(SpawnError::Unavailable)?;
    let lib = shim::path().map_err(SpawnError::Unavailable)?;
    let collector = Collector::new("preload");
    let (env, control) = start_control(cfg, &collector)?;
    let (logdir, logfile) = LogDir::create()?;
    let env = traced_env(env, lib, &logdir.log);
    let prepared = Launch::new(&SpawnConfig { env, ..cfg.clone() })?;
    let start_ns = now_ns();
    let started = launch::start(&prepared)?;
    let root = started.root;
    if let Some(c) = &control {
        c.set_root_pid(root);
    }

    let mut reader = LogReader::new(logfile);
    reader.mark_seen(root);
    // SAFETY: getpid has no preconditions.
    let host = unsafe { libc::getpid() };
    let mut first = vec![Event::ProcessStart {
        pid: root,
        ppid: host,
    }];
    let exec_error = match started.exec_failure {
        Some((tag, e)) => Some(prepared.exec_error(tag, e)),
        None => {
            // The command runs: name what was exec'd (the shim in it names
            // the binary the kernel ran), or say it cannot be seen into.
            if let Some(prog) = prepared.program_path(cfg.cwd.as_deref()) {
                let canon = std::fs::canonicalize(&prog).unwrap_or(prog);
                let path = RawPath::from(canon.as_path());
                first.push(Event::Exec {
                    pid: root,
                    path: path.clone(),
                });
                if let Some(kind) = elf::blind_kind(&canon) {
                    first.push(Event::Warning {
                        message: log::blind_warning(kind, path.as_bytes()),
                    });
                    first.push(Event::ProcessExec {
                        pid: root,
                        argv: cfg
                            .argv
                            .iter()
                            .map(|a| RawPath::from(a.as_bytes()))
                            .collect(),
                        exe: Some(path),
                    });
                }
            }
            None
        }
    };
    collector.push_all(first);

    let reader = Arc::new(Mutex::new(Some(reader)));
    let weak: Weak<Collector> = Arc::downgrade(&collector);
    let flush_reader = Arc::clone(&reader);
    collector.set_flush(Box::new(move || {
        if let Some(c) = weak.upgrade() {
            if let Some(r) = flush_reader
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_mut()
            {
                r.pump(&c, true);
            }
        }
    }));
    let sink = Arc::clone(&collector);
    let job = Job::new(root, Arc::clone(&collector), control);
    let run = collect::Run {
        sink,
        reader,
        status_fd: started.status_fd,
        reaper: started.reaper,
        root,
        start_ns,
        exec_error,
        logdir,
    };
    std::thread::Builder::new()
        .name("roar-preload".into())
        .spawn(move || run.run())
        .map_err(SpawnError::Io)?;
    Ok(job)
}

mod collect {
    //! The collector thread: follows the reaper's reports and the log
    //! until the whole tree has exited, then publishes the summary.

    use super::*;

    pub struct Run {
        pub sink: Arc<Collector>,
        pub reader: Arc<Mutex<Option<LogReader>>>,
        pub status_fd: i32,
        pub reaper: i32,
        pub root: i32,
        pub start_ns: u64,
        pub exec_error: Option<String>,
        pub logdir: LogDir,
    }

    impl Run {
        fn pump(&self, commit: bool) {
            if let Some(r) = self
                .reader
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_mut()
            {
                r.pump(&self.sink, commit);
            }
        }

        /// `(pid, wait status)` reports until the reaper exits.
        fn follow(&self) -> Vec<(i32, i32)> {
            let mut statuses = Vec::new();
            let mut pending: Vec<u8> = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let mut pfd = libc::pollfd {
                    fd: self.status_fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one live pollfd.
                let r = unsafe { libc::poll(&mut pfd, 1, 50) };
                if r > 0 {
                    // SAFETY: reading into a live local buffer.
                    let n = unsafe {
                        libc::read(
                            self.status_fd,
                            buf.as_mut_ptr() as *mut libc::c_void,
                            buf.len(),
                        )
                    };
                    if n == 0 {
                        break;
                    }
                    if n > 0 {
                        pending.extend_from_slice(&buf[..n as usize]);
                        let whole = pending.len() / 8 * 8;
                        for rec in pending[..whole].chunks_exact(8) {
                            let pid = i32::from_ne_bytes([rec[0], rec[1], rec[2], rec[3]]);
                            let st = i32::from_ne_bytes([rec[4], rec[5], rec[6], rec[7]]);
                            statuses.push((pid, st));
                        }
                        pending.drain(..whole);
                    } else if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                        break;
                    }
                }
                // Keep up with the log while the job runs.
                self.pump(false);
            }
            statuses
        }

        pub fn run(self) {
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.follow()));
            // SAFETY: closing our pipe end and reaping our own child.
            unsafe {
                libc::close(self.status_fd);
                let mut st = 0;
                while libc::waitpid(self.reaper, &mut st, 0) == -1
                    && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
                {
                }
            }
            let end_ns = now_ns();
            self.pump(true);
            let mut root_status = None;
            let mut exits = Vec::new();
            let statuses = match caught {
                Ok(s) => s,
                Err(_) => {
                    self.sink.warn(
                        "internal error in the preload collector; the summary may be incomplete",
                    );
                    Vec::new()
                }
            };
            for (pid, st) in statuses {
                let Some((code, sig)) = roar_trace_format::exit_status(st) else {
                    continue;
                };
                if pid == self.root {
                    root_status = Some((code, sig));
                }
                exits.push(Event::ProcessExit {
                    pid,
                    exit_code: sig.is_none().then_some(code),
                    signal: sig,
                });
            }
            self.sink.push_all(exits);
            if let Some(r) = self
                .reader
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
            {
                if r.bad_records() > 0 {
                    self.sink.warn(format!(
                        "the preload log had {} damaged records (disk full?); some accesses may be missing",
                        r.bad_records()
                    ));
                }
            }
            // Release the log (the flush hook holds the reader too).
            *self.reader.lock().unwrap_or_else(|p| p.into_inner()) = None;
            self.sink.set_flush(Box::new(|| {}));
            // Remove the log before publishing: the caller may exit as soon
            // as it has the summary.
            let Run {
                sink,
                logdir,
                root,
                start_ns,
                exec_error,
                ..
            } = self;
            drop(logdir);
            let (exit_code, exit_signal) = root_status.unwrap_or_else(|| {
                sink.warn(
                    "the preload reaper ended before the command; its exit status is unknown",
                );
                (127, None)
            });
            sink.finish(RunInfo {
                root_pid: root,
                exit_code,
                exit_signal,
                exec_error,
                start_ns,
                end_ns,
                stops: 0,
            });
        }
    }
}
