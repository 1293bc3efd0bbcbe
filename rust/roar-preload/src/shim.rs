//! The compiled shim, embedded in this crate (and so in the Python
//! extension module) and written once to a content-addressed file that
//! `LD_PRELOAD` can name.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The shared object built by build.rs from `shim/roar_preload.c`.
pub static SHIM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libroar_preload.so"));

/// FNV-1a, 64 bit: names the installed file after its content.
fn fnv64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn file_name() -> String {
    format!("libroar-preload-{:016x}.so", fnv64(SHIM))
}

/// Directories to try, best first: the user's cache, then a private
/// per-user directory in the temp dir.
fn candidates() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        v.push(PathBuf::from(x).join("roar"));
    }
    if let Some(h) = std::env::var_os("HOME").filter(|x| !x.is_empty()) {
        v.push(PathBuf::from(h).join(".cache").join("roar"));
    }
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    v.push(std::env::temp_dir().join(format!("roar-{uid}")));
    v
}

/// LD_PRELOAD splits on spaces and colons: a path holding one cannot be named.
fn nameable(p: &Path) -> bool {
    !p.as_os_str()
        .as_bytes()
        .iter()
        .any(|b| *b == b' ' || *b == b':' || *b == b'\t')
}

fn noexec(dir: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return true;
    };
    // SAFETY: statvfs is plain data, written by the call.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated, `st` a live local.
    let r = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    r == 0 && st.f_flag & libc::ST_NOEXEC != 0
}

fn install_in(dir: &Path) -> Result<PathBuf, String> {
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let meta = fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // SAFETY: geteuid has no preconditions.
    if !meta.is_dir() || meta.uid() != unsafe { libc::geteuid() } {
        return Err(format!("{} is not a directory of ours", dir.display()));
    }
    let dir = fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !nameable(&dir) {
        return Err(format!(
            "{} contains a space or colon (LD_PRELOAD cannot name it)",
            dir.display()
        ));
    }
    if noexec(&dir) {
        return Err(format!("{} is on a noexec mount", dir.display()));
    }
    let target = dir.join(file_name());
    if let Ok(existing) = fs::read(&target) {
        if existing == SHIM {
            return Ok(target);
        }
    }
    let tmp = dir.join(format!(".{}.{}.tmp", file_name(), std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(SHIM)?;
        f.sync_all()?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))?;
        fs::rename(&tmp, &target)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("{}: {e}", target.display())
    })?;
    Ok(target)
}

/// The installed shim's path (installed on first use in this process).
pub fn path() -> Result<&'static Path, String> {
    static INSTALLED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let mut errors = Vec::new();
            for dir in candidates() {
                match install_in(&dir) {
                    Ok(p) => return Ok(p),
                    Err(e) => errors.push(e),
                }
            }
            Err(format!(
                "cannot install the preload library: {}",
                errors.join("; ")
            ))
        })
        .as_ref()
        .map(|p| p.as_path())
        .map_err(|e| e.clone())
}

/// `LD_PRELOAD` naming `lib` first, keeping the entries of `existing`.
pub fn preload_value(lib: &Path, existing: Option<&std::ffi::OsStr>) -> OsString {
    let lib = lib.as_os_str().as_bytes();
    let mut out = lib.to_vec();
    if let Some(ex) = existing {
        let listed = ex
            .as_bytes()
            .split(|b| *b == b' ' || *b == b':')
            .any(|e| e == lib);
        if listed {
            return ex.to_os_string();
        }
        if !ex.is_empty() {
            out.push(b' ');
            out.extend_from_slice(ex.as_bytes());
        }
    }
    OsString::from_vec(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preload_value_keeps_user_entries() {
        let lib = Path::new("/c/lib.so");
        assert_eq!(preload_value(lib, None), OsString::from("/c/lib.so"));
        assert_eq!(
            preload_value(lib, Some(std::ffi::OsStr::new("libm.so.6:/x.so"))),
            OsString::from("/c/lib.so libm.so.6:/x.so")
        );
        assert_eq!(
            preload_value(lib, Some(std::ffi::OsStr::new("/x.so /c/lib.so"))),
            OsString::from("/x.so /c/lib.so")
        );
    }

    #[test]
    fn installs_once_content_addressed() {
        let p = path().expect("installed");
        assert_eq!(std::fs::read(p).expect("read"), SHIM);
        assert!(p.file_name().is_some_and(|n| n
            .to_string_lossy()
            .contains(&format!("{:016x}", fnv64(SHIM)))));
        assert_eq!(path().expect("again"), p);
    }
}
