//! Hashing bindings: `roar._native.hash_file`, `hash_bytes`, `hash_files`,
//! `composite_digest` and `HASH_ALGORITHMS`, over the `roar-hash` crate.
//!
//! Every function releases the GIL while it hashes.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use roar_hash::{Algorithm, ErrorKind, HashError};

fn parse_algo(name: &str) -> PyResult<Algorithm> {
    Algorithm::from_name(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown hash algorithm {name:?}; expected one of: {}",
            Algorithm::names().join(", ")
        ))
    })
}

/// `str` (filesystem encoding, surrogateescape), `bytes`, or `os.PathLike`
/// to raw path bytes.
fn path_bytes(ob: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = ob.downcast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    match ob.extract::<PathBuf>() {
        Ok(p) => Ok(p.into_os_string().into_vec()),
        Err(_) => {
            // os.PathLike whose __fspath__ returns bytes.
            let py = ob.py();
            let fs = py.import("os")?.getattr("fspath")?.call1((ob,));
            match fs {
                Ok(v) => match v.downcast::<PyBytes>() {
                    Ok(b) => Ok(b.as_bytes().to_vec()),
                    Err(_) => v
                        .extract::<PathBuf>()
                        .map(|p| p.into_os_string().into_vec()),
                },
                Err(_) => Err(PyTypeError::new_err(format!(
                    "expected str, bytes or os.PathLike, not {}",
                    ob.get_type().name()?
                ))),
            }
        }
    }
}

fn to_path(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(OsString::from_vec(bytes))
}

/// Raise the matching `OSError` subclass (`FileNotFoundError`,
/// `IsADirectoryError`, `PermissionError`, ...) with `filename` set.
fn os_error(e: &HashError, filename: &Bound<'_, PyAny>) -> PyErr {
    match e.errno {
        Some(errno) => PyOSError::new_err((errno, e.message.clone(), filename.clone().unbind())),
        None => {
            let shown = filename
                .repr()
                .map(|r| r.to_string())
                .unwrap_or_else(|_| "<path>".to_owned());
            PyOSError::new_err(format!("{}: {}", e.message, shown))
        }
    }
}

fn batch_error_string(e: &HashError) -> String {
    match e.kind {
        ErrorKind::Missing => "missing".to_owned(),
        ErrorKind::IsDirectory => "directory".to_owned(),
        ErrorKind::Permission => "permission".to_owned(),
        ErrorKind::Changed => "changed".to_owned(),
        ErrorKind::Other => format!("error: {}", e.message),
    }
}

/// hash_file(path, algo="blake3") -> str
///
/// Hex digest of the file's content. Raises OSError (FileNotFoundError,
/// IsADirectoryError, PermissionError, ...) on failure, and OSError
/// "changed while hashing" when another process kept writing the file.
#[pyfunction]
#[pyo3(signature = (path, algo = "blake3"))]
fn hash_file(py: Python<'_>, path: &Bound<'_, PyAny>, algo: &str) -> PyResult<String> {
    let algo = parse_algo(algo)?;
    let raw = path_bytes(path)?;
    if raw.contains(&0) {
        return Err(PyValueError::new_err("embedded null byte"));
    }
    let p = to_path(raw);
    py.allow_threads(|| roar_hash::hash_file(&p, algo))
        .map(|d| d.hex)
        .map_err(|e| os_error(&e, path))
}

/// hash_bytes(data, algo="blake3") -> str
///
/// Hex digest of `data` (bytes, or any buffer of bytes).
#[pyfunction]
#[pyo3(signature = (data, algo = "blake3"))]
fn hash_bytes(py: Python<'_>, data: &Bound<'_, PyAny>, algo: &str) -> PyResult<String> {
    let algo = parse_algo(algo)?;
    if let Ok(b) = data.downcast::<PyBytes>() {
        // bytes are immutable, and the caller holds a reference for the
        // duration of the call, so the slice stays valid without the GIL.
        let slice = b.as_bytes();
        return Ok(py.allow_threads(|| roar_hash::hash_bytes(slice, algo)));
    }
    // Other bytes-like objects (bytearray, memoryview, ...): copy them into
    // an immutable `bytes` (the buffer protocol is not in the limited API
    // for 3.10), then hash without the GIL.
    let is_bytes_like = data.is_instance_of::<pyo3::types::PyByteArray>()
        || data.is_instance_of::<pyo3::types::PyMemoryView>();
    if !is_bytes_like {
        return Err(PyTypeError::new_err(format!(
            "expected bytes or a bytes-like object, not {}",
            data.get_type().name()?
        )));
    }
    let copied = py.get_type::<PyBytes>().call1((data,))?;
    let b = copied.downcast::<PyBytes>()?;
    let slice = b.as_bytes();
    Ok(py.allow_threads(|| roar_hash::hash_bytes(slice, algo)))
}

/// hash_files(paths, algo="blake3") -> list[tuple[str, int, int, int, int] | str]
///
/// Hash many files in parallel. Per path, in order: (hex, size, dev, inode,
/// mtime_ns) from the fstat of the hashed fd (the same before and after it
/// was read), or an error string: "missing" | "directory" | "permission" |
/// "changed" (another process kept writing it: no digest is of its content
/// at one moment) | "error: <msg>".
#[pyfunction]
#[pyo3(signature = (paths, algo = "blake3"))]
fn hash_files<'py>(
    py: Python<'py>,
    paths: &Bound<'py, PyAny>,
    algo: &str,
) -> PyResult<Bound<'py, PyList>> {
    let algo = parse_algo(algo)?;
    if paths.is_instance_of::<pyo3::types::PyString>() || paths.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(
            "hash_files expects a list of paths, not a single path",
        ));
    }
    let mut owned: Vec<PathBuf> = Vec::new();
    for item in paths.try_iter()? {
        owned.push(to_path(path_bytes(&item?)?));
    }
    let results = py.allow_threads(|| roar_hash::hash_files(&owned, algo));
    let out = PyList::empty(py);
    for r in results {
        match r {
            Ok(d) => out.append((d.hex, d.size, d.dev, d.inode, d.mtime_ns))?,
            Err(e) => out.append(batch_error_string(&e))?,
        }
    }
    Ok(out)
}

/// composite_digest(members, algo="blake3") -> str
///
/// Deterministic digest of (relative_path, member_digest) pairs: sorted by
/// path bytes, each fed as `path\0digest\n` (see rust/roar-hash/README.md).
#[pyfunction]
#[pyo3(signature = (members, algo = "blake3"))]
fn composite_digest(py: Python<'_>, members: &Bound<'_, PyAny>, algo: &str) -> PyResult<String> {
    let algo = parse_algo(algo)?;
    let mut pairs: Vec<(Vec<u8>, String)> = Vec::new();
    for item in members.try_iter()? {
        let item = item?;
        let (p, d): (Bound<'_, PyAny>, String) = item.extract().map_err(|_| {
            PyTypeError::new_err("composite_digest members must be (path, hex_digest) pairs")
        })?;
        pairs.push((path_bytes(&p)?, d));
    }
    py.allow_threads(|| roar_hash::composite_digest(&pairs, algo))
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(hash_file, m)?)?;
    m.add_function(wrap_pyfunction!(hash_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(hash_files, m)?)?;
    m.add_function(wrap_pyfunction!(composite_digest, m)?)?;
    m.add("HASH_ALGORITHMS", PyTuple::new(m.py(), Algorithm::names())?)?;
    Ok(())
}
