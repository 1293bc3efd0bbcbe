//! Tracer bindings: `roar._native.spawn_traced` and `TracedProcess` over the
//! three backend crates (ptrace, preload, eBPF), `backend_availability`, and
//! `ebpf_serve` (the eBPF loader service's main loop). Waiting releases the
//! GIL.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use roar_trace_format::{Job, SpawnConfig, SpawnError};

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

    /// True once the whole traced tree has exited.
    fn done(&self) -> bool {
        self.tracee.is_done()
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
#[pyfunction]
#[pyo3(signature = (argv, env=None, cwd=None, backend="ptrace", intervals=false))]
fn spawn_traced(
    py: Python<'_>,
    argv: Vec<Bound<'_, PyAny>>,
    env: Option<Bound<'_, PyDict>>,
    cwd: Option<Bound<'_, PyAny>>,
    backend: &str,
    intervals: bool,
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
    let cfg = SpawnConfig {
        argv,
        env,
        cwd,
        intervals,
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
/// `idle_timeout` seconds (blocks; releases the GIL).
#[pyfunction]
#[pyo3(signature = (socket, idle_timeout=900.0))]
fn ebpf_serve(py: Python<'_>, socket: Bound<'_, PyAny>, idle_timeout: f64) -> PyResult<()> {
    if !idle_timeout.is_finite() || idle_timeout < 0.0 {
        return Err(PyValueError::new_err(
            "idle_timeout must be a non-negative number",
        ));
    }
    let path = PathBuf::from(os_string(&socket)?);
    let idle = Duration::from_secs_f64(idle_timeout.min(1e9));
    py.allow_threads(|| roar_ebpf::serve(&path, idle))
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

/// The eBPF service protocol version of this build (a service and its
/// clients must agree; `roar.tracing.ebpf_service` restarts a stale one).
#[pyfunction]
fn ebpf_version() -> String {
    roar_ebpf::version()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TracedProcess>()?;
    m.add_function(wrap_pyfunction!(spawn_traced, m)?)?;
    m.add_function(wrap_pyfunction!(backend_availability, m)?)?;
    m.add_function(wrap_pyfunction!(ebpf_serve, m)?)?;
    m.add_function(wrap_pyfunction!(ebpf_version, m)?)?;
    m.add("TRACER_BACKENDS", BACKENDS)?;
    Ok(())
}
