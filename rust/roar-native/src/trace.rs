//! Tracer bindings: `roar._native.spawn_traced` and `TracedProcess`, over
//! the `roar-ptrace` crate. Waiting releases the GIL.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

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
    tracee: Arc<roar_ptrace::Tracee>,
    #[pyo3(get)]
    pid: i32,
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
        format!("<TracedProcess pid={}>", self.pid)
    }
}

/// Start `argv` under the tracer; returns once the child is traced.
#[pyfunction]
#[pyo3(signature = (argv, env=None, cwd=None, backend="ptrace"))]
fn spawn_traced(
    py: Python<'_>,
    argv: Vec<Bound<'_, PyAny>>,
    env: Option<Bound<'_, PyDict>>,
    cwd: Option<Bound<'_, PyAny>>,
    backend: &str,
) -> PyResult<TracedProcess> {
    if backend != "ptrace" {
        return Err(PyValueError::new_err(format!(
            "unknown tracer backend {backend:?}; available: ptrace"
        )));
    }
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
    let cfg = roar_ptrace::SpawnConfig { argv, env, cwd };
    let tracee = py
        .allow_threads(|| roar_ptrace::spawn(&cfg))
        .map_err(|e| match e {
            roar_ptrace::Error::InvalidArgument(m) => PyValueError::new_err(m),
            other => PyOSError::new_err(other.to_string()),
        })?;
    Ok(TracedProcess {
        pid: tracee.pid(),
        tracee: Arc::new(tracee),
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TracedProcess>()?;
    m.add_function(wrap_pyfunction!(spawn_traced, m)?)?;
    Ok(())
}
