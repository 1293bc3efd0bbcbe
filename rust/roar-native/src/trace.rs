//! Tracer bindings: `roar._native.spawn_traced` and `TracedProcess` over the
//! three backend crates (ptrace, preload, eBPF), `backend_availability`,
//! `ebpf_serve` (the eBPF loader service's main loop), and attach mode:
//! `attach_traced` / `AttachedTrace` and `ptrace_attach_serve` (the ptrace
//! helper process's main loop). Waiting releases the GIL.

use std::ffi::OsString;
use std::io::{BufRead, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use roar_trace_format::{Job, Recovery, SpawnConfig, SpawnError};

/// `str` (filesystem encoding, surrogateescape), `bytes` or `os.PathLike`
/// to raw bytes, as `os.fsencode` does.
fn fs_bytes(ob: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = ob.downcast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    let os = ob.py().import("os")?;
    let b = os.call_method1("fsencode", (ob,))?;
    Ok(b.downcast::<PyBytes>()?.as_bytes().to_vec())
}

fn os_string(ob: &Bound<'_, PyAny>) -> PyResult<OsString> {
    Ok(OsString::from_vec(fs_bytes(ob)?))
}

/// A command running under a tracer.
#[pyclass(module = "roar._native", frozen)]
struct TracedProcess {
    tracee: Arc<Job>,
    #[pyo3(get)]
    pid: i32,
    #[pyo3(get)]
    backend: String,
}

#[pymethods]
impl TracedProcess {
    /// Wait until every traced process has exited and return the access
    /// summary as JSON (format v1), or `None` after `timeout` seconds.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<String>> {
        let timeout = match timeout {
            Some(t) if !t.is_finite() || t < 0.0 => {
                return Err(PyValueError::new_err(
                    "timeout must be a non-negative number",
                ))
            }
            Some(t) => Some(Duration::from_secs_f64(t.min(1e9))),
            None => None,
        };
        let tracee = Arc::clone(&self.tracee);
        Ok(py.allow_threads(move || tracee.wait_timeout(timeout).map(|s| s.to_json())))
    }

    /// True once the backend has finished: the whole traced tree exited,
    /// or the job was ended early (`finish_now`) by a backend that can.
    fn done(&self) -> bool {
        self.tracee.is_done()
    }

    /// `(root_exit, running)`: the root's `(exit_code, signal)` once the
    /// backend saw it end (else None), and the pids of the tree's processes
    /// still running.
    #[allow(clippy::type_complexity)]
    fn status(&self, py: Python<'_>) -> (Option<(i32, Option<i32>)>, Vec<i32>) {
        let tracee = Arc::clone(&self.tracee);
        py.allow_threads(move || (tracee.root_exit(), tracee.running_pids()))
    }

    /// Stop waiting for the tree: the summary of what was seen so far comes
    /// from `wait()` shortly; processes still running go on (preload and
    /// eBPF stop following them; ptrace keeps tracing them — its tracees
    /// cannot run without their tracer — and `done()` stays False until
    /// they exit). Returns at once.
    fn finish_now(&self, py: Python<'_>) {
        let tracee = Arc::clone(&self.tracee);
        py.allow_threads(move || tracee.finish_now());
    }

    fn __repr__(&self) -> String {
        format!("<TracedProcess pid={} backend={}>", self.pid, self.backend)
    }
}

/// The backends this module knows, in `auto` preference order.
const BACKENDS: [&str; 3] = ["ebpf", "preload", "ptrace"];

fn spawn_with(backend: &str, cfg: &SpawnConfig) -> Result<Job, SpawnError> {
    match backend {
        "ptrace" => roar_ptrace::spawn(cfg).map_err(SpawnError::from),
        "preload" => roar_preload::spawn(cfg),
        "ebpf" => roar_ebpf::spawn(cfg),
        other => Err(SpawnError::InvalidArgument(format!(
            "unknown tracer backend {other:?}; expected one of {}",
            BACKENDS.join(", ")
        ))),
    }
}

/// Start `argv` under `backend`; returns once the child is traced. With
/// `intervals`, the command gets `ROAR_TRACE_CONTROL` (long-lived mode).
/// With a `recovery_token` (`[A-Za-z0-9._-]{1,64}`, unique on the host)
/// what the backend observes stays recoverable should this process die
/// (`preload_recover`, `ebpf_claim`), and the finished summary is written
/// to `summary_file` (if given) before `wait()` returns it.
#[pyfunction]
#[pyo3(signature = (argv, env=None, cwd=None, backend="ptrace", intervals=false, recovery_token=None, summary_file=None))]
#[allow(clippy::too_many_arguments)]
fn spawn_traced(
    py: Python<'_>,
    argv: Vec<Bound<'_, PyAny>>,
    env: Option<Bound<'_, PyDict>>,
    cwd: Option<Bound<'_, PyAny>>,
    backend: &str,
    intervals: bool,
    recovery_token: Option<String>,
    summary_file: Option<Bound<'_, PyAny>>,
) -> PyResult<TracedProcess> {
    if argv.is_empty() {
        return Err(PyValueError::new_err("argv must not be empty"));
    }
    let argv = argv.iter().map(os_string).collect::<PyResult<Vec<_>>>()?;
    let env = match env {
        Some(d) => d
            .iter()
            .map(|(k, v)| Ok((os_string(&k)?, os_string(&v)?)))
            .collect::<PyResult<Vec<_>>>()?,
        None => std::env::vars_os().collect(),
    };
    let cwd = cwd.map(|c| os_string(&c).map(PathBuf::from)).transpose()?;
    let summary_file = summary_file
        .map(|c| os_string(&c).map(PathBuf::from))
        .transpose()?;
    let recovery = match (recovery_token, summary_file) {
        (None, None) => None,
        (token, summary_file) => Some(Recovery {
            token: token.unwrap_or_default(),
            summary_file,
        }),
    };
    let cfg = SpawnConfig {
        argv,
        env,
        cwd,
        intervals,
        recovery,
    };
    let job = py
        .allow_threads(|| spawn_with(backend, &cfg))
        .map_err(|e| match e {
            SpawnError::InvalidArgument(m) => PyValueError::new_err(m),
            SpawnError::Unavailable(m) => PyRuntimeError::new_err(m),
            SpawnError::Io(e) => PyOSError::new_err(e.to_string()),
        })?;
    Ok(TracedProcess {
        pid: job.pid(),
        backend: job.backend().to_string(),
        tracee: Arc::new(job),
    })
}

fn spawn_err(e: SpawnError) -> PyErr {
    match e {
        SpawnError::InvalidArgument(m) => PyValueError::new_err(m),
        SpawnError::Unavailable(m) => PyRuntimeError::new_err(m),
        SpawnError::Io(e) => PyOSError::new_err(e.to_string()),
    }
}

/// What the preload backend left of a job whose tracing process died, by
/// its recovery token: `("missing", None)` (no log: it never started, or
/// its summary was made), `("running", None)` (the traced tree still
/// runs), or `("found", summary_json)` (what the log holds; the log stays
/// until `preload_discard`).
#[pyfunction]
fn preload_recover(py: Python<'_>, token: &str) -> PyResult<(String, Option<String>)> {
    let r = py
        .allow_threads(|| roar_preload::recover(token))
        .map_err(spawn_err)?;
    Ok(match r {
        roar_preload::Recovered::Missing => ("missing".into(), None),
        roar_preload::Recovered::Running => ("running".into(), None),
        roar_preload::Recovered::Found(s) => ("found".into(), Some(s.to_json())),
    })
}

/// Remove the log a preload job with this recovery token left behind.
#[pyfunction]
fn preload_discard(py: Python<'_>, token: &str) {
    py.allow_threads(|| roar_preload::discard(token));
}

/// Claim a job whose tracing process died from this build's eBPF service,
/// by its recovery token. `mode`: "peek" (its summary if it has ended),
/// "wait" (follow it to its end) or "forget" (the summary is kept: the
/// service may drop the records). Returns `("pending", None)` (it still
/// runs), `("found", summary_json)`, `("forgotten", None)` or
/// `("unknown", why)`; raises RuntimeError when the service is not running.
#[pyfunction]
fn ebpf_claim(py: Python<'_>, token: &str, mode: &str) -> PyResult<(String, Option<String>)> {
    let m = match mode {
        "peek" => roar_ebpf::proto::CLAIM_PEEK,
        "wait" => roar_ebpf::proto::CLAIM_WAIT,
        "forget" => roar_ebpf::proto::CLAIM_FORGET,
        other => {
            return Err(PyValueError::new_err(format!(
                "mode must be peek, wait or forget, not {other:?}"
            )))
        }
    };
    let r = py
        .allow_threads(|| roar_ebpf::claim(token, m))
        .map_err(spawn_err)?;
    Ok(match r {
        roar_ebpf::Claimed::Pending => ("pending".into(), None),
        roar_ebpf::Claimed::Forgotten => ("forgotten".into(), None),
        roar_ebpf::Claimed::Found(s) => ("found".into(), Some(s.to_json())),
        roar_ebpf::Claimed::Unknown(why) => ("unknown".into(), Some(why)),
    })
}

/// `(built, reason)` for `backend`: whether this build includes it, and if
/// not, why (e.g. clang was missing when the eBPF program was compiled).
/// Host readiness (privileges, kernel) is checked by `roar.tracing`.
#[pyfunction]
fn backend_availability(backend: &str) -> PyResult<(bool, String)> {
    let r = match backend {
        "ptrace" => Ok(()),
        "preload" => roar_preload::availability(),
        "ebpf" => roar_ebpf::availability(),
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown tracer backend {other:?}"
            )))
        }
    };
    Ok(match r {
        Ok(()) => (true, String::new()),
        Err(reason) => (false, reason),
    })
}

/// Run the eBPF loader service on `socket` until it has been idle for
/// `idle_timeout` seconds (blocks; releases the GIL). SIGTERM stops it
/// after the jobs in flight finish (at most `drain_timeout` seconds); a
/// second service on the same socket raises at once (see
/// `roar_ebpf::serve`).
#[pyfunction]
#[pyo3(signature = (socket, idle_timeout=900.0, drain_timeout=900.0))]
fn ebpf_serve(
    py: Python<'_>,
    socket: Bound<'_, PyAny>,
    idle_timeout: f64,
    drain_timeout: f64,
) -> PyResult<()> {
    let seconds = |v: f64, name: &str| {
        if !v.is_finite() || v < 0.0 {
            return Err(PyValueError::new_err(format!(
                "{name} must be a non-negative number"
            )));
        }
        Ok(Duration::from_secs_f64(v.min(1e9)))
    };
    let idle = seconds(idle_timeout, "idle_timeout")?;
    let drain = seconds(drain_timeout, "drain_timeout")?;
    let path = PathBuf::from(os_string(&socket)?);
    py.allow_threads(|| roar_ebpf::serve(&path, idle, drain))
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

/// The eBPF service protocol version of this build (a service and its
/// clients must agree; the service writes it beside its socket).
#[pyfunction]
fn ebpf_version() -> String {
    roar_ebpf::version()
}

/// The socket of this build's eBPF service: `$ROAR_EBPF_SOCKET` (default
/// `/run/roar/ebpf.sock`) with the build's tag in the name.
#[pyfunction]
fn ebpf_socket_path() -> PathBuf {
    roar_ebpf::socket_path()
}

// --- attach mode --------------------------------------------------------------

/// Backends that can attach to a running process, in preference order.
const ATTACH_BACKENDS: [&str; 2] = ["ebpf", "ptrace"];
/// How long `detach(None)` waits, and a dropped trace waits for its helper.
const DETACH_TIMEOUT: Duration = Duration::from_secs(60);
/// How long attaching waits for the ptrace helper to report.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(60);

/// A failure of attach mode, turned into a Python exception with the GIL.
enum AttachError {
    /// `OSError(errno, message)` (Python picks the subclass:
    /// `ProcessLookupError` for ESRCH, `PermissionError` for EPERM…).
    Os(i32, String),
    Runtime(String),
    Timeout(String),
    Value(String),
}

impl From<AttachError> for PyErr {
    fn from(e: AttachError) -> PyErr {
        match e {
            AttachError::Os(errno, m) => PyOSError::new_err((errno, m)),
            AttachError::Runtime(m) => PyRuntimeError::new_err(m),
            AttachError::Timeout(m) => PyTimeoutError::new_err(m),
            AttachError::Value(m) => PyValueError::new_err(m),
        }
    }
}

impl AttachError {
    /// The message, said of attaching `backend` to `pid`.
    fn about(self, backend: &str, pid: i32) -> Self {
        let say = |m: String| format!("cannot attach the {backend} tracer to process {pid}: {m}");
        match self {
            AttachError::Os(n, m) => AttachError::Os(n, say(m)),
            AttachError::Runtime(m) => AttachError::Runtime(say(m)),
            AttachError::Timeout(m) => AttachError::Timeout(say(m)),
            AttachError::Value(m) => AttachError::Value(say(m)),
        }
    }
}

impl From<SpawnError> for AttachError {
    fn from(e: SpawnError) -> Self {
        match e {
            SpawnError::InvalidArgument(m) => AttachError::Value(m),
            SpawnError::Unavailable(m) => AttachError::Runtime(m),
            SpawnError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                AttachError::Timeout(e.to_string())
            }
            SpawnError::Io(e) => AttachError::Os(e.raw_os_error().unwrap_or(0), e.to_string()),
        }
    }
}

/// The ptrace tracer of an attached trace: a helper process
/// (`python -m roar.tracing.attach_helper <pid>`, which runs
/// `ptrace_attach_serve`), spoken to by lines on its stdin and stdout.
struct Helper {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    buf: Vec<u8>,
    /// `prctl(PR_SET_PTRACER, helper)` was set for this process: reset it.
    ptracer_set: bool,
    /// The process that started the helper (a forked copy leaves it alone).
    owner: i32,
}

fn set_ptracer(pid: libc::c_ulong) -> bool {
    // SAFETY: prctl with integer arguments. Without Yama it fails (EINVAL),
    // which is harmless: nothing restricts ptrace to ancestors then.
    unsafe { libc::prctl(libc::PR_SET_PTRACER, pid, 0, 0, 0) == 0 }
}

impl Helper {
    /// Start the helper and wait until it has attached (or failed).
    fn start(python: &PathBuf, pythonpath: OsString, pid: i32) -> Result<Helper, AttachError> {
        let mut child = Command::new(python)
            .args(["-m", "roar.tracing.attach_helper", &pid.to_string()])
            .env("PYTHONPATH", pythonpath)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Its own process group: a terminal's Ctrl-C is for the traced
            // program, not its tracer.
            .process_group(0)
            .spawn()
            .map_err(|e| {
                AttachError::Runtime(format!(
                    "cannot start the ptrace attach helper ({}): {e}",
                    python.display()
                ))
            })?;
        // Under Yama ptrace_scope=1 only an ancestor, or the tracer a process
        // names, may trace it; the helper is our child, so name it. (The
        // helper retries a refused attach for a moment in case it is quicker.)
        // SAFETY: getpid has no preconditions.
        let ptracer_set = pid == unsafe { libc::getpid() } && set_ptracer(child.id().into());
        let (stdin, stdout) = match (child.stdin.take(), child.stdout.take()) {
            (Some(i), Some(o)) => (i, o),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(AttachError::Runtime("the helper has no pipes".into()));
            }
        };
        let mut h = Helper {
            child,
            stdin: Some(stdin),
            stdout,
            buf: Vec::new(),
            ptracer_set,
            // SAFETY: getpid has no preconditions.
            owner: unsafe { libc::getpid() },
        };
        match h.read_line(Instant::now() + ATTACH_TIMEOUT) {
            Ok(Some(line)) if line == "attached" => Ok(h),
            Ok(Some(line)) => Err(helper_error(&line)),
            Ok(None) => Err(AttachError::Runtime(format!(
                "the ptrace attach helper ended without attaching ({})",
                h.finish_status()
            ))),
            Err(e) => Err(e),
        }
    }

    /// One line from the helper's stdout; `None` at EOF.
    fn read_line(&mut self, deadline: Instant) -> Result<Option<String>, AttachError> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                let text = String::from_utf8_lossy(&line[..i]).into_owned();
                return Ok(Some(text));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(AttachError::Timeout(format!(
                    "the ptrace attach helper did not answer within {} s",
                    ATTACH_TIMEOUT.as_secs()
                )));
            }
            let mut pfd = libc::pollfd {
                fd: self.stdout.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = left.as_millis().min(1000) as i32;
            // SAFETY: poll on one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, ms.max(1)) };
            if r <= 0 {
                continue; // timeout slice or EINTR
            }
            let mut chunk = [0u8; 65536];
            match self.stdout.read(&mut chunk) {
                Ok(0) => return Ok(None),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(AttachError::Runtime(format!(
                        "reading from the ptrace attach helper failed: {e}"
                    )))
                }
            }
        }
    }

    /// Ask the helper to detach; returns the summary JSON line.
    fn detach(mut self, timeout: Duration) -> Result<String, AttachError> {
        if let Some(mut stdin) = self.stdin.take() {
            // An error here (the helper died) shows as EOF below.
            let _ = stdin.write_all(b"detach\n").and_then(|()| stdin.flush());
        }
        let line = self.read_line(Instant::now() + timeout);
        let line = match line {
            Ok(Some(l)) if l.starts_with('{') => l,
            Ok(Some(l)) => return Err(helper_error(&l)),
            Ok(None) => {
                return Err(AttachError::Runtime(format!(
                    "the ptrace attach helper ended without a summary ({})",
                    self.finish_status()
                )))
            }
            Err(AttachError::Timeout(_)) => {
                let _ = self.child.kill();
                return Err(AttachError::Timeout(format!(
                    "the ptrace attach helper did not detach within {:.1} s; it was killed (the kernel detaches a dead tracer's tracees)",
                    timeout.as_secs_f64()
                )));
            }
            Err(e) => return Err(e),
        };
        Ok(line)
    }

    /// Wait for the helper to exit (killing it after a while); its status.
    fn finish_status(&mut self) -> String {
        self.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(st)) => return st.to_string(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return "killed: it did not exit".into();
                }
                // Reaped elsewhere (e.g. a waitpid(-1) in the host).
                Err(_) => return "exited".into(),
            }
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        // SAFETY: getpid has no preconditions.
        if unsafe { libc::getpid() } != self.owner {
            return; // a forked copy: the helper belongs to the parent
        }
        // EOF on its stdin: the helper detaches everything and exits. Wait
        // for that, so the process is no longer traced when this returns.
        self.finish_status();
        if self.ptracer_set {
            set_ptracer(0);
        }
    }
}

/// `error <errno> <message>` from the helper.
fn helper_error(line: &str) -> AttachError {
    let rest = line.strip_prefix("error ").unwrap_or(line);
    let (n, msg) = rest.split_once(' ').unwrap_or(("0", rest));
    match n.parse::<i32>() {
        Ok(errno) if errno > 0 => AttachError::Os(errno, msg.to_string()),
        Ok(_) => AttachError::Runtime(msg.to_string()),
        Err(_) => AttachError::Runtime(format!(
            "unexpected answer from the ptrace attach helper: {line}"
        )),
    }
}

enum Attachment {
    Ebpf(roar_ebpf::Attached),
    Ptrace(Helper),
}

impl Attachment {
    fn detach(self, timeout: Duration) -> Result<String, AttachError> {
        match self {
            Attachment::Ebpf(a) => Ok(a.detach(Some(timeout))?.to_json()),
            Attachment::Ptrace(h) => h.detach(timeout),
        }
    }
}

/// A running process traced since `attach_traced`.
#[pyclass(module = "roar._native", frozen)]
struct AttachedTrace {
    inner: Mutex<Option<Attachment>>,
    #[pyo3(get)]
    pid: i32,
    #[pyo3(get)]
    backend: String,
}

#[pymethods]
impl AttachedTrace {
    /// Stop tracing and return the access summary JSON (format v1) of what
    /// the traced tree did since attaching; the process (and everything it
    /// started) keeps running untraced. `timeout` in seconds (`None`: 60).
    /// A second call raises RuntimeError.
    #[pyo3(signature = (timeout=None))]
    fn detach(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<String> {
        let timeout = match timeout {
            Some(t) if !t.is_finite() || t < 0.0 => {
                return Err(PyValueError::new_err(
                    "timeout must be a non-negative number",
                ))
            }
            Some(t) => Duration::from_secs_f64(t.min(1e9)),
            None => DETACH_TIMEOUT,
        };
        let attachment = self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this trace was already detached"))?;
        Ok(py.allow_threads(move || attachment.detach(timeout))?)
    }

    /// True until `detach` was called.
    fn attached(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    fn __repr__(&self) -> String {
        format!("<AttachedTrace pid={} backend={}>", self.pid, self.backend)
    }
}

/// `pid` must be a running process (not one of its threads).
fn check_attachable(pid: i32) -> Result<(), AttachError> {
    if pid <= 0 {
        return Err(AttachError::Value("not a process id".into()));
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|_| AttachError::Os(libc::ESRCH, "no such process".into()))?;
    let tgid: Option<i32> = status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok());
    match tgid {
        Some(t) if t != pid => Err(AttachError::Value(format!(
            "it is a thread of process {t}; attach to the process"
        ))),
        _ => Ok(()),
    }
}

/// Trace the running process `pid` — all its threads, and every thread
/// and process it starts — from now until `AttachedTrace.detach()`.
/// `backend` is "ebpf" (the loader service must run) or "ptrace" (a helper
/// process traces with syscall stops; the caller may be `pid` itself).
#[pyfunction]
#[pyo3(signature = (pid, backend))]
fn attach_traced(py: Python<'_>, pid: i32, backend: &str) -> PyResult<AttachedTrace> {
    match backend {
        "ebpf" | "ptrace" => {}
        "preload" => {
            return Err(PyRuntimeError::new_err(
                "the preload backend cannot attach to a running process: it is loaded when a process starts; use ebpf or ptrace",
            ))
        }
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown tracer backend {other:?}; attach mode supports {}",
                ATTACH_BACKENDS.join(", ")
            )))
        }
    }
    check_attachable(pid).map_err(|e| e.about(backend, pid))?;
    let attachment = if backend == "ebpf" {
        let a = py
            .allow_threads(|| roar_ebpf::attach(pid))
            .map_err(|e| AttachError::from(e).about(backend, pid))?;
        Attachment::Ebpf(a)
    } else {
        let sys = py.import("sys")?;
        let python = PathBuf::from(os_string(&sys.getattr("executable")?)?);
        if python.as_os_str().is_empty() {
            return Err(PyRuntimeError::new_err(
                "sys.executable is empty: cannot start the ptrace attach helper",
            ));
        }
        let pythonpath = helper_pythonpath(py)?;
        let h = py
            .allow_threads(|| Helper::start(&python, pythonpath, pid))
            .map_err(|e| e.about(backend, pid))?;
        Attachment::Ptrace(h)
    };
    Ok(AttachedTrace {
        inner: Mutex::new(Some(attachment)),
        pid,
        backend: backend.to_string(),
    })
}

/// `PYTHONPATH` for the helper: the directory this `roar` package was
/// imported from first (so the helper runs this very build), then any
/// existing `PYTHONPATH`.
fn helper_pythonpath(py: Python<'_>) -> PyResult<OsString> {
    let file = py.import("roar")?.getattr("__file__")?;
    let file = PathBuf::from(os_string(&file)?);
    let root = file
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.as_os_str().to_owned())
        .unwrap_or_default();
    let mut v = root;
    if let Some(old) = std::env::var_os("PYTHONPATH").filter(|o| !o.is_empty()) {
        v.push(":");
        v.push(old);
    }
    Ok(v)
}

/// The ptrace attach helper's main loop (`python -m
/// roar.tracing.attach_helper <pid>`): seize every thread of `pid`, print
/// `attached`, trace with syscall stops until a line `detach` (or EOF) on
/// stdin, detach from everything, print the summary JSON as one line.
#[pyfunction]
fn ptrace_attach_serve(py: Python<'_>, pid: i32) -> PyResult<()> {
    let result = py.allow_threads(|| {
        roar_ptrace::attach(pid, |detacher| {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(b"attached\n").and_then(|()| out.flush());
            let _ = std::thread::Builder::new()
                .name("roar-attach-stdin".into())
                .spawn(move || {
                    for line in std::io::stdin().lock().lines() {
                        match line {
                            Ok(l) if l.trim() == "detach" => break,
                            Ok(_) => continue,
                            Err(_) => break,
                        }
                    }
                    detacher.detach();
                });
        })
    });
    match result {
        Ok(summary) => {
            let mut out = std::io::stdout().lock();
            // The caller may be gone (EPIPE): nothing left to tell.
            let _ = out
                .write_all(summary.to_json().as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .and_then(|()| out.flush());
            Ok(())
        }
        // Only the detail: `attach_traced` says what could not be attached.
        Err(roar_ptrace::Error::Attach { errno, detail, .. }) => {
            Err(PyOSError::new_err((errno, detail)))
        }
        Err(e) => Err(PyRuntimeError::new_err(e.to_string())),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TracedProcess>()?;
    m.add_class::<AttachedTrace>()?;
    m.add_function(wrap_pyfunction!(attach_traced, m)?)?;
    m.add_function(wrap_pyfunction!(ptrace_attach_serve, m)?)?;
    m.add("ATTACH_BACKENDS", ATTACH_BACKENDS)?;
    m.add_function(wrap_pyfunction!(spawn_traced, m)?)?;
    m.add_function(wrap_pyfunction!(backend_availability, m)?)?;
    m.add_function(wrap_pyfunction!(ebpf_serve, m)?)?;
    m.add_function(wrap_pyfunction!(ebpf_version, m)?)?;
    m.add_function(wrap_pyfunction!(ebpf_socket_path, m)?)?;
    m.add_function(wrap_pyfunction!(preload_recover, m)?)?;
    m.add_function(wrap_pyfunction!(preload_discard, m)?)?;
    m.add_function(wrap_pyfunction!(ebpf_claim, m)?)?;
    m.add("TRACER_BACKENDS", BACKENDS)?;
    Ok(())
}
