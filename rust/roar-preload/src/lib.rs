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
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
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

/// A private directory for one job's log: `events.log` (the shim's
/// records), and for recovery `lock` (held by the reaper while the tree
/// runs) and `job` (root pid and start time).
struct LogDir {
    dir: PathBuf,
    log: PathBuf,
}

const LOG_NAME: &str = "events.log";
const LOCK_NAME: &str = "lock";
const JOB_NAME: &str = "job";
const DIR_PREFIX: &str = "roar-preload-";

/// Where log directories go: `/dev/shm` when usable, then the temp dir.
fn log_bases() -> Vec<PathBuf> {
    let shm = Path::new("/dev/shm");
    let mut v = Vec::new();
    if shm.is_dir() && !shim_noaccess(shm) {
        v.push(shm.to_path_buf());
    }
    v.push(std::env::temp_dir());
    v
}

impl LogDir {
    /// A fresh directory: `roar-preload-<token>` with a recovery token (so
    /// a later process finds it), else `roar-preload-<pid>-<n>`.
    fn create(token: Option<&str>) -> std::io::Result<(LogDir, File)> {
        let base = log_bases().remove(0);
        let mut last = None;
        let attempts = if token.is_some() { 1 } else { 100 };
        for attempt in 0..attempts {
            let name = match token {
                Some(t) => format!("{DIR_PREFIX}{t}"),
                None => format!("{DIR_PREFIX}{}-{attempt}", std::process::id()),
            };
            let dir = base.join(name);
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {
                    let log = dir.join(LOG_NAME);
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

    /// `lock`, opened and locked (`flock`): the reaper keeps it for the
    /// tree's whole life, so "the lock is free" means the tree is gone.
    fn lock(&self) -> std::io::Result<File> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(self.dir.join(LOCK_NAME))?;
        // SAFETY: flock on a file we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(f)
    }
}

impl Drop for LogDir {
    fn drop(&mut self) {
        remove_log_dir(&self.dir);
    }
}

fn remove_log_dir(dir: &Path) {
    for name in [LOG_NAME, LOCK_NAME, JOB_NAME] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    let _ = std::fs::remove_dir(dir);
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
    let token = cfg.recovery_token()?;
    let collector = Collector::new("preload");
    collector.set_summary_file(cfg.recovery.as_ref().and_then(|r| r.summary_file.clone()));
    let (env, control) = start_control(cfg, &collector)?;
    let (logdir, logfile) = LogDir::create(token)?;
    let lock = match token {
        Some(_) => Some(logdir.lock()?),
        None => None,
    };
    let env = traced_env(env, lib, &logdir.log);
    let prepared = Launch::new(&SpawnConfig { env, ..cfg.clone() })?;
    let start_ns = now_ns();
    let started = launch::start(&prepared, lock.as_ref().map_or(-1, |f| f.as_raw_fd()))?;
    drop(lock); // the reaper holds it now
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
    let mut program: Option<RawPath> = None;
    let exec_error = match started.exec_failure {
        Some((tag, e)) => Some(prepared.exec_error(tag, e)),
        None => {
            // The command runs: name what was exec'd (the shim in it names
            // the binary the kernel ran), or say it cannot be seen into.
            if let Some(prog) = prepared.program_path(cfg.cwd.as_deref()) {
                let canon = std::fs::canonicalize(&prog).unwrap_or(prog);
                let path = RawPath::from(canon.as_path());
                program = Some(path.clone());
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
    if token.is_some() {
        // For a later process recovering the job: the root, its start, the
        // reaper, and the program exec'd (the shim in the root cannot name it).
        let mut job = format!("{root} {start_ns} {}\n", started.reaper).into_bytes();
        if let Some(p) = &program {
            job.extend_from_slice(p.as_bytes());
        }
        let _ = std::fs::write(logdir.dir.join(JOB_NAME), job);
    }

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
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = Arc::clone(&stop);
    collector.set_stop(Box::new(move || stop_flag.store(true, Ordering::SeqCst)));
    let run = collect::Run {
        sink,
        reader,
        status_fd: started.status_fd,
        reaper: started.reaper,
        root,
        start_ns,
        exec_error,
        logdir,
        stop,
    };
    std::thread::Builder::new()
        .name("roar-preload".into())
        .spawn(move || run.run())
        .map_err(SpawnError::Io)?;
    Ok(job)
}

/// What a later process finds of a job whose tracing process died, by its
/// recovery token (see README.md, *Recovery*).
#[derive(Debug)]
pub enum Recovered {
    /// No log directory: the command never started, or the job's log was
    /// already released (its summary was made).
    Missing,
    /// The traced tree still runs (its reaper holds the job's lock).
    Running,
    /// What the log holds. `exit_known` only when the root's exit was
    /// logged (a process killed by a signal logs no exit); `incomplete`
    /// says the summary was recovered.
    Found(Box<Summary>),
}

fn find_log_dir(token: &str) -> Option<PathBuf> {
    log_bases()
        .into_iter()
        .map(|b| b.join(format!("{DIR_PREFIX}{token}")))
        .find(|d| d.is_dir())
}

/// The log a job with recovery token `token` left behind, summarised (the
/// directory stays until [`discard`]).
pub fn recover(token: &str) -> Result<Recovered, SpawnError> {
    if !roar_trace_format::Recovery::valid_token(token) {
        return Err(SpawnError::InvalidArgument(format!(
            "bad recovery token {token:?}"
        )));
    }
    let Some(dir) = find_log_dir(token) else {
        return Ok(Recovered::Missing);
    };
    if let Ok(lock) = File::open(dir.join(LOCK_NAME)) {
        // SAFETY: flock on a file we opened; closing it releases our lock.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Ok(Recovered::Running);
        }
    }
    let job = std::fs::read(dir.join(JOB_NAME)).unwrap_or_default();
    let (line, program) = match job.iter().position(|b| *b == b'\n') {
        Some(i) => (&job[..i], &job[i + 1..]),
        None => (&job[..], &[][..]),
    };
    let nums: Vec<i64> = String::from_utf8_lossy(line)
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let root = nums.first().copied().unwrap_or(0) as i32;
    let start_ns = nums.get(1).copied().unwrap_or(0) as u64;
    let reaper = nums.get(2).copied().unwrap_or(0) as i32;
    let log = dir.join(LOG_NAME);
    let end_ns = std::fs::metadata(&log)
        .ok()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(now_ns(), |d| d.as_nanos() as u64);
    let collector = Collector::new("preload");
    if root > 0 {
        collector.push(Event::ProcessStart {
            pid: root,
            ppid: reaper,
        });
        if !program.is_empty() {
            collector.push(Event::Exec {
                pid: root,
                path: RawPath::from(program),
            });
        }
    }
    let file = File::open(&log)?;
    let mut reader = LogReader::new(file);
    reader.mark_seen(root);
    reader.pump(&collector, true);
    if reader.bad_records() > 0 {
        collector.warn(format!(
            "the preload log had {} damaged records (disk full?); some accesses may be missing",
            reader.bad_records()
        ));
    }
    collector.finish(RunInfo {
        root_pid: root,
        exit_code: -1,
        exit_unknown: true,
        start_ns,
        end_ns,
        incomplete: Some(
            "recovered from the preload log after the process tracing the job died; processes killed by a signal logged no exit".into(),
        ),
        ..Default::default()
    });
    let Some(mut summary) = collector.wait_timeout(Some(std::time::Duration::ZERO)) else {
        return Err(SpawnError::Io(std::io::Error::other("no summary")));
    };
    let root_end = summary
        .processes
        .iter()
        .find(|p| p.pid == root)
        .and_then(|p| match (p.exit_code, p.exit_signal) {
            (_, Some(sig)) => Some((128 + sig, Some(sig))),
            (Some(c), None) => Some((c, None)),
            _ => None,
        });
    if let Some((code, sig)) = root_end {
        summary.exit_code = code;
        summary.exit_signal = sig;
        summary.exit_known = true;
    }
    Ok(Recovered::Found(Box::new(summary)))
}

/// Remove what a job with recovery token `token` left behind (its log
/// directory), once recovered. Nothing to remove is not an error.
pub fn discard(token: &str) {
    if !roar_trace_format::Recovery::valid_token(token) {
        return;
    }
    if let Some(dir) = find_log_dir(token) {
        remove_log_dir(&dir);
    }
}

mod collect {
    //! The collector thread: follows the reaper's reports and the log
    //! until the whole tree has exited (or the caller stops waiting), then
    //! publishes the summary.

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
        /// Set by [`Collector::finish_now`]: stop waiting for the tree.
        pub stop: Arc<AtomicBool>,
    }

    /// How following the reaper ended.
    enum Ended {
        /// EOF: the reaper exited (every process of the tree has, unless the
        /// reaper was killed: its wait status tells).
        Eof,
        /// The caller stopped waiting; the reaper and the tree go on.
        Stopped,
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

        /// Push the ends the reaper reported, after the log up to now (a
        /// reaped process wrote everything it will: its own records come
        /// first, the reaper's status last).
        fn ended(&self, reaped: &[(i32, i32)]) {
            if reaped.is_empty() {
                return;
            }
            self.pump(false);
            let mut exits = Vec::new();
            for &(pid, st) in reaped {
                let Some((code, sig)) = roar_trace_format::exit_status(st) else {
                    continue;
                };
                if pid == self.root {
                    self.sink.set_root_exit(code, sig);
                }
                exits.push(Event::ProcessExit {
                    pid,
                    exit_code: sig.is_none().then_some(code),
                    signal: sig,
                });
            }
            self.sink.push_all(exits);
        }

        /// `(pid, wait status)` reports until the reaper exits or the
        /// caller stops waiting.
        fn follow(&self, statuses: &mut Vec<(i32, i32)>) -> Ended {
            let mut pending: Vec<u8> = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                if self.stop.load(Ordering::SeqCst) {
                    return Ended::Stopped;
                }
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
                        return Ended::Eof;
                    }
                    if n > 0 {
                        pending.extend_from_slice(&buf[..n as usize]);
                        let whole = pending.len() / 8 * 8;
                        let first = statuses.len();
                        for rec in pending[..whole].chunks_exact(8) {
                            let pid = i32::from_ne_bytes([rec[0], rec[1], rec[2], rec[3]]);
                            let st = i32::from_ne_bytes([rec[4], rec[5], rec[6], rec[7]]);
                            statuses.push((pid, st));
                        }
                        pending.drain(..whole);
                        self.ended(&statuses[first..]);
                    } else if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                        return Ended::Eof;
                    }
                }
                // Keep up with the log while the job runs.
                self.pump(false);
            }
        }

        pub fn run(self) {
            let mut statuses = Vec::new();
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.follow(&mut statuses)
            }));
            // SAFETY: closing our pipe end.
            unsafe { libc::close(self.status_fd) };
            let stopped = matches!(caught, Ok(Ended::Stopped));
            let mut reaper_status = None;
            if stopped {
                // The reaper goes on reaping what is left (its reports now
                // go nowhere); reap it when it is done, off this thread.
                let reaper = self.reaper;
                let _ = std::thread::Builder::new()
                    .name("roar-preload-reap".into())
                    .spawn(move || reap(reaper));
            } else {
                reaper_status = reap(self.reaper);
            }
            let end_ns = now_ns();
            self.pump(true);
            if caught.is_err() {
                self.sink
                    .warn("internal error in the preload collector; the summary may be incomplete");
            }
            let root_status = statuses
                .iter()
                .find(|(pid, _)| *pid == self.root)
                .and_then(|(_, st)| roar_trace_format::exit_status(*st));
            let mut incomplete = None;
            if stopped {
                let running = self.sink.running_pids();
                incomplete = Some(format!(
                    "the trace was ended while {} process(es) of the tree still ran (not followed any more)",
                    running.len()
                ));
            } else if let Some(sig) = reaper_status
                .filter(|st| libc::WIFSIGNALED(*st))
                .map(|st| libc::WTERMSIG(st))
            {
                let m = format!(
                    "the preload reaper (pid {}) was killed by signal {sig} before the traced processes ended; what they did after that is not recorded{}",
                    self.reaper,
                    if root_status.is_none() {
                        ", and the command's exit status is unknown"
                    } else {
                        ""
                    }
                );
                self.sink.warn(m.clone());
                incomplete = Some(m);
            } else if root_status.is_none() && self.exec_error.is_none() {
                self.sink.warn(
                    "the preload reaper ended before the command; its exit status is unknown",
                );
            }
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
            let Run {
                sink,
                logdir,
                root,
                start_ns,
                exec_error,
                ..
            } = self;
            let (exit_code, exit_signal) = root_status.unwrap_or(if exec_error.is_some() {
                (127, None)
            } else {
                (-1, None)
            });
            // The log goes once the summary is made (and kept, if asked)
            // and before it is published: the caller may exit as soon as
            // it has the summary.
            sink.finish_then(
                RunInfo {
                    root_pid: root,
                    exit_code,
                    exit_signal,
                    exit_unknown: root_status.is_none() && exec_error.is_none(),
                    exec_error,
                    start_ns,
                    end_ns,
                    stops: 0,
                    incomplete,
                },
                move || drop(logdir),
            );
        }
    }

    /// Wait for our child `pid`; its wait status (`None`: already reaped).
    fn reap(pid: i32) -> Option<i32> {
        let mut st = 0;
        loop {
            // SAFETY: reaping our own child.
            let r = unsafe { libc::waitpid(pid, &mut st, 0) };
            if r == pid {
                return Some(st);
            }
            if r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return None;
        }
    }
}
