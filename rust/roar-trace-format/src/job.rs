//! The contract between a backend and its caller: what to run
//! ([`SpawnConfig`]), where a backend puts what it sees ([`Collector`]) and
//! the handle the caller waits on ([`Job`]).
//!
//! Every backend starts the command, feeds its events to one shared
//! [`Collector`] from whatever thread observes them, and calls
//! [`Collector::finish`] once the whole tree has exited. The collector also
//! serves *intervals* (long-lived mode, see `control.rs`): while one is open,
//! each event also goes to a second summarizer whose summary is handed out
//! when the interval ends.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::control::ControlServer;
use crate::event::Event;
use crate::path::RawPath;
use crate::summarizer::{RunInfo, Summarizer};
use crate::summary::Summary;

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct SpawnConfig {
    /// The command; `argv[0]` is looked up in the `PATH` of `env` when it
    /// has no slash.
    pub argv: Vec<OsString>,
    /// The complete environment of the command.
    pub env: Environment,
    /// Working directory (default: the caller's).
    pub cwd: Option<PathBuf>,
    /// Serve the interval control socket (long-lived mode) and export its
    /// path to the command as `ROAR_TRACE_CONTROL`.
    pub intervals: bool,
    /// Keep what is observed recoverable should the caller die while the
    /// command runs (see README.md, *Recovery*).
    pub recovery: Option<Recovery>,
}

/// How a job stays recoverable when the process that started it dies
/// (`kill -9`): the backends keep what they observed where a later process
/// can find it by `token`, and the summary is written to `summary_file`
/// before it is handed out.
#[derive(Debug, Clone, Default)]
pub struct Recovery {
    /// A name unique on this host: `[A-Za-z0-9._-]`, 1–64 bytes (empty:
    /// only the summary file). preload names the job's log directory after
    /// it; the eBPF service keeps the job's records under it should its
    /// client go away.
    pub token: String,
    /// Where the finished summary is written (temp file + rename) before it
    /// is published, so a caller killed right after still left it behind.
    pub summary_file: Option<PathBuf>,
}

impl Recovery {
    /// Whether `token` is usable in a file name and on the wire.
    pub fn valid_token(token: &str) -> bool {
        !token.is_empty()
            && token.len() <= 64
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
            && token != "."
            && token != ".."
    }
}

impl SpawnConfig {
    /// `argv` with the caller's environment and working directory.
    pub fn new(argv: Vec<OsString>) -> Self {
        SpawnConfig {
            argv,
            env: std::env::vars_os().collect(),
            cwd: None,
            intervals: false,
            recovery: None,
        }
    }

    /// The recovery token, checked (`InvalidArgument` when malformed).
    pub fn recovery_token(&self) -> Result<Option<&str>, SpawnError> {
        match &self.recovery {
            None => Ok(None),
            Some(r) if r.token.is_empty() => Ok(None),
            Some(r) if Recovery::valid_token(&r.token) => Ok(Some(&r.token)),
            Some(r) => Err(SpawnError::InvalidArgument(format!(
                "recovery token {:?} must be 1-64 characters of A-Z a-z 0-9 . _ -",
                r.token
            ))),
        }
    }
}

/// Why a backend could not start the command.
#[derive(Debug)]
pub enum SpawnError {
    /// Bad configuration (empty argv, a NUL byte in an argument…).
    InvalidArgument(String),
    /// The backend cannot run on this host (not built, not permitted…);
    /// the message says why and what to do.
    Unavailable(String),
    /// Any other failure to start.
    Io(std::io::Error),
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            SpawnError::Unavailable(m) => write!(f, "{m}"),
            SpawnError::Io(e) => write!(f, "cannot start the tracer: {e}"),
        }
    }
}

impl std::error::Error for SpawnError {}

impl From<std::io::Error> for SpawnError {
    fn from(e: std::io::Error) -> Self {
        SpawnError::Io(e)
    }
}

/// Wall clock in ns since the Unix epoch.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

struct Interval {
    label: String,
    start_ns: u64,
    summarizer: Summarizer,
}

struct State {
    run: Summarizer,
    /// False in long-lived mode: only intervals are summarised, so a kernel
    /// that runs for days does not accumulate every path it ever touched.
    keep_run: bool,
    interval: Option<Interval>,
    /// The summary handed out (the final one, or an early one from
    /// [`Collector::finish_now`]).
    done: Option<Summary>,
    /// The backend has finished: the tree is gone (or the trace was ended).
    finished: bool,
    /// The root's exit status once the backend saw it end.
    root_exit: Option<(i32, Option<i32>)>,
    /// Processes announced (`ProcessStart`) and not seen to end.
    live: BTreeSet<i32>,
    /// Where the summary is written before it is published.
    summary_file: Option<PathBuf>,
}

/// Flushes events a backend has buffered (preload's log, eBPF's ring) into
/// the collector; called before an interval's summary is taken.
pub type Flush = Box<dyn Fn() + Send + Sync>;

/// Told `true` when an interval opens and `false` when it closes, so a
/// backend can hold resources only while a cell runs (ptrace's CPU-latency
/// request, which keeps idle CPUs polling).
pub type IntervalHook = Box<dyn Fn(bool) + Send + Sync>;

/// Where a backend's events go; shared between the backend's threads, the
/// control socket and the caller waiting for the summary.
pub struct Collector {
    backend: String,
    state: Mutex<State>,
    cond: Condvar,
    flush: Mutex<Option<Flush>>,
    interval_hook: Mutex<Option<IntervalHook>>,
    /// How the backend ends a job early ([`Collector::finish_now`]).
    stop: Mutex<Option<Flush>>,
    root_pid: AtomicI32,
    start_ns: u64,
}

/// Does `pid` run (exists and is not a zombie)?
fn alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, None | Some("Z") | Some("X"))
}

impl State {
    fn track(&mut self, ev: &Event) {
        match ev {
            Event::ProcessStart { pid, .. } => {
                self.live.insert(*pid);
            }
            Event::ProcessExit { pid, .. } => {
                self.live.remove(pid);
            }
            _ => {}
        }
    }
}

impl Collector {
    pub fn new(backend: &str) -> Arc<Self> {
        Arc::new(Collector {
            backend: backend.to_string(),
            state: Mutex::new(State {
                run: Summarizer::new(backend),
                keep_run: true,
                interval: None,
                done: None,
                finished: false,
                root_exit: None,
                live: BTreeSet::new(),
                summary_file: None,
            }),
            cond: Condvar::new(),
            flush: Mutex::new(None),
            interval_hook: Mutex::new(None),
            stop: Mutex::new(None),
            root_pid: AtomicI32::new(0),
            start_ns: now_ns(),
        })
    }

    pub fn backend(&self) -> &str {
        &self.backend
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One observed event, in the order it happened.
    pub fn push(&self, ev: Event) {
        let mut s = self.lock();
        s.track(&ev);
        if let Some(iv) = s.interval.as_mut() {
            iv.summarizer.push(ev.clone());
        }
        if s.keep_run {
            s.run.push(ev);
        }
    }

    /// Several events at once (one lock).
    pub fn push_all(&self, events: impl IntoIterator<Item = Event>) {
        let mut s = self.lock();
        for ev in events {
            s.track(&ev);
            if let Some(iv) = s.interval.as_mut() {
                iv.summarizer.push(ev.clone());
            }
            if s.keep_run {
                s.run.push(ev);
            }
        }
    }

    /// A warning for the run (and the open interval, if any).
    pub fn warn(&self, message: impl Into<String>) {
        let m = message.into();
        let mut s = self.lock();
        if let Some(iv) = s.interval.as_mut() {
            iv.summarizer.warn(m.clone());
        }
        s.run.warn(m);
    }

    /// Install the backend's flush hook (see [`Flush`]).
    pub fn set_flush(&self, f: Flush) {
        *self.flush.lock().unwrap_or_else(|p| p.into_inner()) = Some(f);
    }

    fn flush(&self) {
        if let Some(f) = self
            .flush
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            f();
        }
    }

    /// Long-lived mode: summarise intervals only. The whole run's summary
    /// then carries the exit status but no files or processes.
    pub fn intervals_only(&self) {
        self.lock().keep_run = false;
    }

    /// Install the backend's interval hook (see [`IntervalHook`]).
    pub fn set_interval_hook(&self, f: IntervalHook) {
        *self.interval_hook.lock().unwrap_or_else(|p| p.into_inner()) = Some(f);
    }

    fn tell_interval(&self, open: bool) {
        if let Some(f) = self
            .interval_hook
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            f(open);
        }
    }

    /// Open an interval; an interval still open is discarded.
    pub fn begin_interval(&self, label: &str) {
        self.tell_interval(true);
        self.flush();
        let mut s = self.lock();
        s.interval = Some(Interval {
            label: label.to_string(),
            start_ns: now_ns(),
            summarizer: Summarizer::new(&self.backend),
        });
    }

    /// Close the open interval and return its summary (`None` when no
    /// interval was open). Events the backend buffered are flushed first,
    /// so everything the tree did before this call is included.
    pub fn end_interval(&self, root_pid: i32) -> Option<(String, Summary)> {
        self.flush();
        let iv = self.lock().interval.take();
        self.tell_interval(false);
        let iv = iv?;
        let summary = iv.summarizer.finish(RunInfo {
            root_pid,
            start_ns: iv.start_ns,
            end_ns: now_ns(),
            ..Default::default()
        });
        Some((iv.label, summary))
    }

    /// The whole tree has exited: publish the run's summary.
    pub fn finish(&self, run: RunInfo) {
        self.finish_then(run, || {});
    }

    /// [`Collector::finish`], running `before_publish` after the summary
    /// was made (and written to the summary file, if any) and before it is
    /// handed out: a backend releases what it kept for recovery there (the
    /// caller may exit as soon as it has the summary).
    pub fn finish_then(&self, run: RunInfo, before_publish: impl FnOnce()) {
        let (summary, file) = {
            let mut s = self.lock();
            let summarizer = std::mem::replace(&mut s.run, Summarizer::new(&self.backend));
            (summarizer.finish(run), s.summary_file.take())
        };
        let summary = persist(summary, file.as_deref());
        before_publish();
        let mut s = self.lock();
        s.done = Some(summary);
        s.finished = true;
        self.cond.notify_all();
    }

    /// Write the summary to `path` before publishing it (see [`Recovery`]).
    pub fn set_summary_file(&self, path: Option<PathBuf>) {
        self.lock().summary_file = path;
    }

    /// The root pid (set by [`Job::new`]).
    pub fn root_pid(&self) -> i32 {
        self.root_pid.load(Ordering::SeqCst)
    }

    /// The backend saw the root process end with this status (`(code,
    /// None)`, or `(128 + N, Some(N))` for signal N).
    pub fn set_root_exit(&self, code: i32, signal: Option<i32>) {
        self.lock().root_exit = Some((code, signal));
    }

    /// The root's exit status, once the backend saw it end.
    pub fn root_exit(&self) -> Option<(i32, Option<i32>)> {
        self.lock().root_exit
    }

    /// Processes of the tree that are still running: announced, not seen
    /// to end, and alive in `/proc` (not zombies). Sorted.
    pub fn running_pids(&self) -> Vec<i32> {
        let known: Vec<i32> = self.lock().live.iter().copied().collect();
        known.into_iter().filter(|p| alive(*p)).collect()
    }

    /// Install how the backend ends a job early (see [`Collector::finish_now`]).
    pub fn set_stop(&self, f: Flush) {
        *self.stop.lock().unwrap_or_else(|p| p.into_inner()) = Some(f);
    }

    /// Stop waiting for the tree: the summary of what was observed so far
    /// is published soon (collect it with [`Collector::wait_timeout`]),
    /// while processes still running go on. A backend that can stop
    /// following them (preload, eBPF) ends the job itself and says so in
    /// `incomplete`; one that cannot let go of them (ptrace: its tracees'
    /// filtered syscalls fail without their tracer) keeps tracing, and the
    /// summary published now is a snapshot of what was pushed so far — the
    /// backend's own summary, when the tree has exited, replaces it (and is
    /// not written to the summary file). Returns at once.
    pub fn finish_now(&self) {
        if self.lock().done.is_some() {
            return;
        }
        let hook = self.stop.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(stop) = hook {
            stop();
            return;
        }
        self.flush();
        let (summary, file) = {
            let mut s = self.lock();
            let running = s.live.iter().filter(|p| alive(**p)).count();
            let (exit_code, exit_signal, exit_unknown) = match s.root_exit {
                Some((c, sig)) => (c, sig, false),
                None => (-1, None, true),
            };
            let summarizer = std::mem::replace(&mut s.run, Summarizer::new(&self.backend));
            let summary = summarizer.finish(RunInfo {
                root_pid: self.root_pid(),
                exit_code,
                exit_signal,
                exit_unknown,
                start_ns: self.start_ns,
                end_ns: now_ns(),
                incomplete: Some(format!(
                    "the trace was cut short while {running} process(es) of the tree still ran; they are still traced"
                )),
                ..Default::default()
            });
            (summary, s.summary_file.take())
        };
        let summary = persist(summary, file.as_deref());
        let mut s = self.lock();
        s.done = Some(summary);
        self.cond.notify_all();
    }

    /// Attach mode: record the already-running root process `pid` (ppid,
    /// argv and binary from `/proc`), which no fork or exec event announces.
    pub fn attached_root(&self, pid: i32) {
        let ppid = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("PPid:"))
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0);
        let argv = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                let b = b.strip_suffix(&[0]).unwrap_or(&b);
                b.split(|c| *c == 0).map(RawPath::from).collect()
            })
            .unwrap_or_default();
        let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .map(|l| RawPath(l.into_os_string().into_vec()));
        self.push_all([
            Event::ProcessStart { pid, ppid },
            Event::ProcessExec { pid, argv, exe },
        ]);
    }

    /// Attach mode: end the trace now and return (and publish) the summary
    /// of everything pushed since attaching. The backend flushes first.
    /// `exit_code`/`exit_signal` are the root's when it exited while traced
    /// (`128 + N` when killed by signal N), else `0`/`None`: it is still
    /// running.
    pub fn finish_attached(&self, root_pid: i32, start_ns: u64, stops: u64) -> Summary {
        let mut s = self.lock();
        let summarizer = std::mem::replace(&mut s.run, Summarizer::new(&self.backend));
        let mut summary = summarizer.finish(RunInfo {
            root_pid,
            start_ns,
            end_ns: now_ns(),
            stops,
            ..Default::default()
        });
        if let Some(p) = summary.processes.iter().find(|p| p.pid == root_pid) {
            match (p.exit_code, p.exit_signal) {
                (_, Some(sig)) => {
                    summary.exit_code = 128 + sig;
                    summary.exit_signal = Some(sig);
                }
                (Some(code), None) => summary.exit_code = code,
                (None, None) => {}
            }
        }
        s.done = Some(summary.clone());
        s.finished = true;
        self.cond.notify_all();
        summary
    }

    /// The summary once published, or `None` after `timeout` (`None`:
    /// wait forever). May be called repeatedly.
    pub fn wait_timeout(&self, timeout: Option<Duration>) -> Option<Summary> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut g = self.lock();
        loop {
            if let Some(s) = g.done.as_ref() {
                return Some(s.clone());
            }
            g = match deadline {
                None => self.cond.wait(g).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return None;
                    }
                    self.cond
                        .wait_timeout(g, d - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }

    /// True once the backend has finished (the tree exited, or the job
    /// was ended early). A snapshot from [`Collector::finish_now`] alone
    /// does not count: the backend is still tracing.
    pub fn is_done(&self) -> bool {
        self.lock().finished
    }
}

/// Write `summary` to `file` (temp + rename), if given. A failure is added
/// to the summary's warnings: the caller has the summary anyway.
fn persist(mut summary: Summary, file: Option<&std::path::Path>) -> Summary {
    let Some(path) = file else {
        return summary;
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let written =
        std::fs::write(&tmp, summary.to_json()).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        summary.warnings.push(format!(
            "could not keep a copy of the summary at {}: {e}",
            path.display()
        ));
    }
    summary
}

/// A command running under some backend.
pub struct Job {
    pid: i32,
    collector: Arc<Collector>,
    _control: Option<ControlServer>,
}

impl Job {
    pub fn new(pid: i32, collector: Arc<Collector>, control: Option<ControlServer>) -> Self {
        collector.root_pid.store(pid, Ordering::SeqCst);
        Job {
            pid,
            collector,
            _control: control,
        }
    }

    /// The root process id (signals sent to it reach the command).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn backend(&self) -> &str {
        self.collector.backend()
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
        self.collector.wait_timeout(timeout)
    }

    pub fn is_done(&self) -> bool {
        self.collector.is_done()
    }

    /// The root's exit status once the backend saw it end (the tree may
    /// still run: processes it left behind).
    pub fn root_exit(&self) -> Option<(i32, Option<i32>)> {
        self.collector.root_exit()
    }

    /// Processes of the tree still running (see [`Collector::running_pids`]).
    pub fn running_pids(&self) -> Vec<i32> {
        self.collector.running_pids()
    }

    /// Stop waiting for the tree (see [`Collector::finish_now`]); the
    /// summary then comes from [`Job::wait_timeout`].
    pub fn finish_now(&self) {
        self.collector.finish_now();
    }
}

/// A command's complete environment.
pub type Environment = Vec<(OsString, OsString)>;

/// Prepare the environment and control socket for `cfg`: returns the
/// environment to give the command and the control server to keep alive.
/// `root_pid` is filled in once known (the server answers with it).
pub fn start_control(
    cfg: &SpawnConfig,
    collector: &Arc<Collector>,
) -> Result<(Environment, Option<ControlServer>), SpawnError> {
    let mut env = cfg.env.clone();
    if !cfg.intervals {
        return Ok((env, None));
    }
    let server = ControlServer::start(Arc::clone(collector))?;
    collector.intervals_only();
    env.retain(|(k, _)| k != crate::control::CONTROL_ENV);
    env.push((
        crate::control::CONTROL_ENV.into(),
        server.path().as_os_str().to_owned(),
    ));
    Ok((env, Some(server)))
}
