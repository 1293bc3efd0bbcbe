//! Compiles the C shim (`shim/roar_preload.c`) into a shared object in
//! OUT_DIR with the system C compiler; `src/shim.rs` embeds its bytes.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "shim/roar_preload.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=CC");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"))
        .join("libroar_preload.so");
    let compiler = cc::Build::new()
        .cargo_metadata(false)
        .opt_level(2)
        .get_compiler();
    let mut cmd = Command::new(compiler.path());
    cmd.args([
        "-shared",
        "-fPIC",
        "-O2",
        "-g0",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-fvisibility=hidden",
        "-fno-stack-protector",
        "-fno-strict-aliasing",
        "-Wl,-z,nodelete",
        // Two LOAD segments instead of four, no RELRO mprotect: fewer
        // mappings and page faults in every process the shim is loaded in.
        "-Wl,-z,noseparate-code",
        "-Wl,-z,norelro",
        "-o",
    ])
    .arg(&out)
    .arg(src)
    .args(["-ldl", "-lpthread"]);
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler {:?}: {e}", compiler.path()));
    assert!(
        status.success(),
        "compiling {src} failed ({status}); the preload backend needs a C compiler and libc headers"
    );
}
