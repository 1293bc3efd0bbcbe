//! Compiles `bpf/roar.bpf.c` with clang (`-target bpf`, CO-RE) into
//! `$OUT_DIR/roar.bpf.o`, embedded by `src/object.rs`.
//!
//! Without clang, the libbpf headers or a supported architecture, the build
//! still succeeds: the cfg `roar_ebpf` stays unset and `ROAR_EBPF_MISSING`
//! says why, which `availability()` reports.
//!
//! Environment: `ROAR_CLANG` (the clang to use), `ROAR_EBPF_DISABLE=1`
//! (build without eBPF, e.g. to test that path).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(roar_ebpf)");
    for f in ["bpf/roar.bpf.c", "bpf/roar_kern.h", "bpf/roar_events.h"] {
        println!("cargo:rerun-if-changed={f}");
    }
    println!("cargo:rerun-if-env-changed=ROAR_CLANG");
    println!("cargo:rerun-if-env-changed=ROAR_EBPF_DISABLE");
    match build() {
        Ok(obj) => {
            println!("cargo:rustc-cfg=roar_ebpf");
            println!("cargo:rustc-env=ROAR_EBPF_OBJECT={}", obj.display());
        }
        Err(why) => {
            println!("cargo:warning=roar-ebpf: building without eBPF: {why}");
            println!("cargo:rustc-env=ROAR_EBPF_MISSING={why}");
        }
    }
}

fn which(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn find_clang() -> Option<PathBuf> {
    if let Ok(c) = std::env::var("ROAR_CLANG") {
        return which(&c);
    }
    std::iter::once("clang".to_string())
        .chain((14..=21).rev().map(|v| format!("clang-{v}")))
        .find_map(|n| which(&n))
}

fn build() -> Result<PathBuf, String> {
    if std::env::var_os("ROAR_EBPF_DISABLE").is_some_and(|v| v == "1") {
        return Err("eBPF was disabled for this build (ROAR_EBPF_DISABLE=1)".into());
    }
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if arch != "x86_64" {
        return Err(format!(
            "the eBPF programs support x86_64 only (this build targets {arch})"
        ));
    }
    let Some(clang) = find_clang() else {
        // Re-run once clang appears (a missing path counts as changed).
        println!("cargo:rerun-if-changed=/usr/bin/clang");
        return Err("clang was not found at build time; install clang and libbpf-dev (Debian: apt-get install clang libbpf-dev), then reinstall roar".into());
    };
    let helpers = Path::new("/usr/include/bpf/bpf_helpers.h");
    println!("cargo:rerun-if-changed={}", helpers.display());
    if !helpers.is_file() {
        return Err("the libbpf headers (bpf/bpf_helpers.h) were not found at build time; install libbpf-dev (Debian: apt-get install libbpf-dev), then reinstall roar".into());
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    let obj = out.join("roar.bpf.o");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let mut cmd = Command::new(&clang);
    cmd.args([
        "-g",
        "-O2",
        "-target",
        "bpf",
        "-D__TARGET_ARCH_x86",
        "-Wall",
    ])
    .arg(format!("-I{}", manifest.join("bpf").display()));
    // <linux/types.h> needs <asm/types.h>, which Debian keeps under the
    // multiarch directory that `-target bpf` does not search.
    for dir in ["/usr/include/x86_64-linux-gnu"] {
        if Path::new(dir).join("asm").is_dir() {
            cmd.arg(format!("-I{dir}"));
        }
    }
    cmd.arg("-c")
        .arg(manifest.join("bpf/roar.bpf.c"))
        .arg("-o")
        .arg(&obj);
    let res = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", clang.display()))?;
    if !res.status.success() {
        // clang and the headers are here, so this is a bug in the C: fail
        // loudly rather than build a roar without eBPF.
        panic!(
            "{} failed to compile bpf/roar.bpf.c:\n{}",
            clang.display(),
            String::from_utf8_lossy(&res.stderr)
        );
    }
    Ok(obj)
}
