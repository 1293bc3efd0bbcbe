//! Turning a tracee's (dirfd, path) into an absolute path, using /proc as the
//! authoritative view of its fd table and cwd (shared correctly by threads,
//! and right after dup2/close/fd reuse, with no extra stops).

use std::os::unix::ffi::OsStringExt;

use roar_trace_format::{normalize_lexically, RawPath};

/// `readlink(/proc/<tid>/fd/<fd>)`; `None` for non-path objects (pipes,
/// sockets, anon inodes) and vanished fds.
pub fn fd_path(tid: i32, fd: i64) -> Option<RawPath> {
    let link = std::fs::read_link(format!("/proc/{tid}/fd/{fd}")).ok()?;
    let b = link.into_os_string().into_vec();
    if b.first() != Some(&b'/') {
        return None;
    }
    Some(RawPath(b))
}

/// Is `fd` of `tid` a regular file?
pub fn fd_is_file(tid: i32, fd: i64) -> bool {
    std::fs::metadata(format!("/proc/{tid}/fd/{fd}"))
        .map(|m| m.is_file())
        .unwrap_or(false)
}

pub fn fd_is_dir(tid: i32, fd: i64) -> bool {
    std::fs::metadata(format!("/proc/{tid}/fd/{fd}"))
        .map(|m| m.is_dir())
        .unwrap_or(false)
}

fn cwd(tid: i32) -> Option<Vec<u8>> {
    let link = std::fs::read_link(format!("/proc/{tid}/cwd")).ok()?;
    Some(link.into_os_string().into_vec())
}

/// Absolute, lexically normalised path for `path` relative to `dirfd`
/// (`AT_FDCWD` = the cwd). `/proc/self` is rewritten to `/proc/<tid>`.
pub fn lexical(tid: i32, dirfd: i64, path: &[u8]) -> Option<RawPath> {
    let joined = if path.first() == Some(&b'/') {
        path.to_vec()
    } else {
        let mut base = if dirfd as i32 == libc::AT_FDCWD {
            cwd(tid)?
        } else {
            fd_path(tid, dirfd)?.0
        };
        if !path.is_empty() {
            base.push(b'/');
            base.extend_from_slice(path);
        }
        base
    };
    let n = normalize_lexically(&joined);
    Some(rewrite_proc_self(tid, n))
}

fn rewrite_proc_self(tid: i32, p: RawPath) -> RawPath {
    for (prefix, repl) in [
        (&b"/proc/self"[..], format!("/proc/{tid}")),
        (&b"/proc/thread-self"[..], format!("/proc/{tid}/task/{tid}")),
    ] {
        let b = p.as_bytes();
        if b.starts_with(prefix) && (b.len() == prefix.len() || b[prefix.len()] == b'/') {
            let mut out = repl.into_bytes();
            out.extend_from_slice(&b[prefix.len()..]);
            return RawPath(out);
        }
    }
    p
}

/// Lexical resolution, then the parent directory canonicalised (symlinks
/// resolved); the final component is kept as named. For calls that act on
/// a name: rename, unlink, mkdir, link, symlink.
pub fn name(tid: i32, dirfd: i64, path: &[u8]) -> Option<RawPath> {
    let p = lexical(tid, dirfd, path)?;
    let pp = p.as_path();
    let (Some(parent), Some(file)) = (pp.parent(), pp.file_name()) else {
        return Some(p);
    };
    match std::fs::canonicalize(parent) {
        Ok(mut c) => {
            c.push(file);
            Some(RawPath(c.into_os_string().into_vec()))
        }
        Err(_) => Some(p),
    }
}

/// Fully canonical (for calls that follow symlinks: truncate, execve);
/// falls back to [`name`] when the path cannot be resolved.
pub fn followed(tid: i32, dirfd: i64, path: &[u8]) -> Option<RawPath> {
    let p = lexical(tid, dirfd, path)?;
    match std::fs::canonicalize(p.as_path()) {
        Ok(c) => Some(RawPath(c.into_os_string().into_vec())),
        Err(_) => name(tid, dirfd, path),
    }
}

/// Existence and mtime (ns) of a path, following symlinks.
pub fn stat(p: &RawPath) -> (bool, Option<i64>) {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(p.as_path()) {
        Ok(m) => (true, Some(m.mtime() * 1_000_000_000 + m.mtime_nsec())),
        Err(_) => (false, None),
    }
}

/// Does the name exist (not following a final symlink)?
pub fn exists_nofollow(p: &RawPath) -> bool {
    std::fs::symlink_metadata(p.as_path()).is_ok()
}

/// `/proc/<pid>/cmdline` split into arguments.
pub fn cmdline(pid: i32) -> Vec<RawPath> {
    let Ok(b) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return Vec::new();
    };
    let b = b.strip_suffix(&[0]).unwrap_or(&b);
    b.split(|c| *c == 0).map(RawPath::from).collect()
}

pub fn exe(pid: i32) -> Option<RawPath> {
    let l = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    Some(RawPath(l.into_os_string().into_vec()))
}

/// `(tgid, ppid)` from `/proc/<tid>/status`.
pub fn tgid_ppid(tid: i32) -> Option<(i32, i32)> {
    let s = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    let mut tgid = None;
    let mut ppid = None;
    for line in s.lines() {
        if let Some(v) = line.strip_prefix("Tgid:") {
            tgid = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("PPid:") {
            ppid = v.trim().parse().ok();
        }
        if tgid.is_some() && ppid.is_some() {
            break;
        }
    }
    Some((tgid?, ppid?))
}
