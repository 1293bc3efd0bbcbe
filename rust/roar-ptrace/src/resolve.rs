//! Turning a tracee's (dirfd, path) into an absolute path, using /proc as the
//! authoritative view of its fd table and cwd (shared correctly by threads,
//! and right after dup2/close/fd reuse, with no extra stops).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// Why [`probe`] gave no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoProbe {
    /// The tracee's own lookup of this path fails the same way (ENOENT,
    /// ENOTDIR, EACCES, a bad dirfd, an empty path): its syscall will fail.
    Fails,
    /// The tracer cannot see what the tracee will see (a `/proc/self` or
    /// magic link on the way, a path too long to prefix, openat2 missing,
    /// fd exhaustion…): use the exact exit-stop method instead.
    Unsure,
}

/// Something the tracer opened with `O_PATH` exactly as the tracee would
/// (through `/proc/<tid>/cwd` or `/proc/<tid>/fd/<dirfd>`), with its
/// canonical absolute path (the same `readlink` answer an fd of the tracee
/// on that object gives).
pub struct Probed {
    pub fd: OwnedFd,
    pub path: RawPath,
}

impl Probed {
    /// `st_mode` of the object (for `O_NOFOLLOW` probes, of the link).
    pub fn mode(&self) -> Option<u32> {
        fstatat_mode(self.fd.as_raw_fd(), c"", libc::AT_EMPTY_PATH)
    }
}

fn fstatat_mode(dirfd: i32, name: &std::ffi::CStr, flags: i32) -> Option<u32> {
    // SAFETY: stat is plain data; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `name` is NUL-terminated, `st` is a live local.
    let r = unsafe { libc::fstatat(dirfd, name.as_ptr(), &mut st, flags) };
    (r == 0).then_some(st.st_mode)
}

static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn open_path(path: &[u8]) -> Result<OwnedFd, i32> {
    let c = std::ffi::CString::new(path).map_err(|_| libc::EINVAL)?;
    // SAFETY: `c` is NUL-terminated; O_PATH opens nothing for I/O.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Canonical path of one of the tracer's own fds.
fn own_fd_path(fd: i32) -> Option<RawPath> {
    let mut buf = [0u8; 4096];
    let link = format!("/proc/self/fd/{fd}\0");
    // SAFETY: `link` is NUL-terminated; readlink writes at most buf.len().
    let n = unsafe {
        libc::readlink(
            link.as_ptr() as *const libc::c_char,
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
        )
    };
    if n <= 0 || n as usize >= buf.len() || buf[0] != b'/' {
        return None;
    }
    Some(RawPath(buf[..n as usize].to_vec()))
}

/// Is `p` in the tracer's own `/proc/<pid>` (reached through `/proc/self`
/// or `/proc/thread-self`, which name the tracer, not the tracee)?
fn is_own_proc(p: &[u8]) -> bool {
    // SAFETY: getpid has no preconditions.
    let me = format!("/proc/{}", unsafe { libc::getpid() });
    p.starts_with(me.as_bytes()) && (p.len() == me.len() || p[me.len()] == b'/')
}

/// Resolve `path` (relative to the tracee's `dirfd`, `AT_FDCWD` = its cwd)
/// as the tracee's kernel lookup will, by opening it with `O_PATH` from the
/// tracer: relative paths start at `/proc/<tid>/cwd` or
/// `/proc/<tid>/fd/<dirfd>` (the tracee's own cwd/fd, shared correctly by
/// threads), absolute ones at `/`. `openat2(RESOLVE_NO_MAGICLINKS)` refuses
/// magic links on the way (`/dev/stdin` → `/proc/self/fd/0` would be the
/// *tracer's* fd), which makes the answer [`NoProbe::Unsure`].
/// `nofollow`: `O_NOFOLLOW` (the final symlink itself); `directory`:
/// `O_DIRECTORY`.
pub fn probe(
    tid: i32,
    dirfd: i64,
    path: &[u8],
    nofollow: bool,
    directory: bool,
) -> Result<Probed, NoProbe> {
    if path.is_empty() {
        return Err(NoProbe::Fails); // ENOENT (no AT_EMPTY_PATH for opens)
    }
    if NO_OPENAT2.load(Ordering::Relaxed) {
        return Err(NoProbe::Unsure);
    }
    let base = if path[0] == b'/' {
        None
    } else if dirfd as i32 == libc::AT_FDCWD {
        Some(open_path(format!("/proc/{tid}/cwd").as_bytes()).map_err(|_| NoProbe::Unsure)?)
    } else {
        // ENOENT here: the fd is not open in the tracee (EBADF for it).
        match open_path(format!("/proc/{tid}/fd/{}", dirfd as i32).as_bytes()) {
            Ok(fd) => Some(fd),
            Err(libc::ENOENT) => return Err(NoProbe::Fails),
            Err(_) => return Err(NoProbe::Unsure),
        }
    };
    if path == b"." && !nofollow {
        if let Some(fd) = base {
            // The dirfd or cwd itself (no lookup: a parent of a relative name).
            if fstatat_mode(fd.as_raw_fd(), c"", libc::AT_EMPTY_PATH)
                .is_none_or(|m| m & libc::S_IFMT != libc::S_IFDIR)
            {
                return Err(NoProbe::Fails); // ENOTDIR
            }
            return finish_probe(fd);
        }
    }
    let c = std::ffi::CString::new(path).map_err(|_| NoProbe::Fails)?;
    let mut flags = libc::O_PATH | libc::O_CLOEXEC;
    if nofollow {
        flags |= libc::O_NOFOLLOW;
    }
    if directory {
        flags |= libc::O_DIRECTORY;
    }
    // SAFETY: open_how is plain data; all-zero is valid.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    how.resolve = libc::RESOLVE_NO_MAGICLINKS;
    let at = base.as_ref().map_or(libc::AT_FDCWD, |b| b.as_raw_fd());
    // SAFETY: `c` is NUL-terminated and `how` is a live, correctly sized
    // open_how; the result is a new fd or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            at,
            c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    } as i32;
    drop(base);
    if fd < 0 {
        return Err(match errno() {
            libc::ENOENT | libc::ENOTDIR | libc::EACCES => NoProbe::Fails,
            libc::ENOSYS => {
                NO_OPENAT2.store(true, Ordering::Relaxed);
                NoProbe::Unsure
            }
            // ELOOP: a magic link (or a real loop); ENAMETOOLONG, EMFILE, …
            _ => NoProbe::Unsure,
        });
    }
    // SAFETY: a fresh fd we own.
    finish_probe(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn finish_probe(fd: OwnedFd) -> Result<Probed, NoProbe> {
    let path = own_fd_path(fd.as_raw_fd()).ok_or(NoProbe::Unsure)?;
    if is_own_proc(path.as_bytes()) || path.as_bytes().ends_with(b" (deleted)") {
        return Err(NoProbe::Unsure);
    }
    Ok(Probed { fd, path })
}

/// The outcome of probing an unlink/rmdir target at syscall entry.
pub enum Removal {
    /// The entry exists and has the right type: the call will (most
    /// likely) remove it. Parent canonicalised, final component as named.
    Target(RawPath),
    /// The call fails for sure (missing, wrong type, `.`/`..`).
    Fails,
    Unsure,
}

/// Where an unlink (`rmdir == false`) or rmdir of `path` will act.
pub fn removal(tid: i32, dirfd: i64, path: &[u8], rmdir: bool) -> Removal {
    let trimmed = {
        let mut end = path.len();
        while end > 1 && path[end - 1] == b'/' {
            end -= 1;
        }
        &path[..end]
    };
    if trimmed.len() != path.len() && !rmdir {
        return Removal::Fails; // unlink("x/"): ENOTDIR or EISDIR
    }
    let (parent, last): (&[u8], &[u8]) = match trimmed.iter().rposition(|b| *b == b'/') {
        Some(0) => (b"/", &trimmed[1..]),
        Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
        None => (b".", trimmed),
    };
    if last.is_empty() || last == b"." || last == b".." {
        return Removal::Fails; // "/", ".", "..": EBUSY/EINVAL/ENOTEMPTY/EISDIR
    }
    let p = match probe(tid, dirfd, parent, false, true) {
        Ok(p) => p,
        Err(NoProbe::Fails) => return Removal::Fails,
        Err(NoProbe::Unsure) => return Removal::Unsure,
    };
    let Ok(name) = std::ffi::CString::new(last) else {
        return Removal::Fails;
    };
    let Some(mode) = fstatat_mode(p.fd.as_raw_fd(), &name, libc::AT_SYMLINK_NOFOLLOW) else {
        return Removal::Fails; // ENOENT (or not searchable: EACCES)
    };
    let is_dir = mode & libc::S_IFMT == libc::S_IFDIR;
    if is_dir != rmdir {
        return Removal::Fails; // unlink of a dir (EISDIR), rmdir of a non-dir (ENOTDIR)
    }
    let mut out = p.path.0;
    if out.last() != Some(&b'/') {
        out.push(b'/');
    }
    out.extend_from_slice(last);
    Removal::Target(RawPath(out))
}
