//! `roar._native`: the thin pyo3 layer over roar's Rust crates.
//!
//! Each submodule binds one crate; the logic lives in the crates so it can be
//! tested and reused without Python.

use pyo3::prelude::*;

mod hash;
mod trace;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    hash::register(m)?;
    trace::register(m)?;
    Ok(())
}
