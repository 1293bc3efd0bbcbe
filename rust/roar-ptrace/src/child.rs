//! Everything the child needs, prepared before fork, and the child side of
//! the fork, which only makes raw syscalls (the parent may be a
//! multi-threaded Python process: no allocation, no locks after fork).

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::{filter, Error, SpawnConfig};

/// Why the child gave up, written to the status pipe as `[tag, errno(4)]`.
pub const TAG_PTRACE: u8 = 1;
pub const TAG_CHDIR: u8 = 2;
pub const TAG_SECCOMP: u8 = 3;
pub const TAG_EXEC: u8 = 4;

pub struct Prepared {
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
    /// The resolved program; `None` when not found in PATH.
    pub program: Option<CString>,
    pub cwd: Option<CString>,
    pub filter: Vec<libc::sock_filter>,
    pub argv0: OsString,
}

// SAFETY: sock_filter is plain data; Prepared owns everything it points to.
unsafe impl Send for Prepared {}

fn cstring(b: &[u8], what: &str) -> Result<CString, Error> {
    CString::new(b).map_err(|_| Error::InvalidArgument(format!("{what} contains a NUL byte")))
}

impl Prepared {
    pub fn new(cfg: &SpawnConfig) -> Result<Prepared, Error> {
        let Some(argv0) = cfg.argv.first() else {
            return Err(Error::InvalidArgument("empty argv".into()));
        };
        let argv = cfg
            .argv
            .iter()
            .map(|a| cstring(a.as_bytes(), "an argument"))
            .collect::<Result<Vec<_>, _>>()?;
        let mut envp = Vec::with_capacity(cfg.env.len());
        for (k, v) in &cfg.env {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            envp.push(cstring(&kv, "an environment variable")?);
        }
        let path_var = cfg
            .env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone());
        let program = find_program(argv0, path_var.as_deref(), cfg.cwd.as_deref())
            .map(|p| cstring(p.as_os_str().as_bytes(), "the program path"))
            .transpose()?;
        let cwd = cfg
            .cwd
            .as_ref()
            .map(|c| cstring(c.as_os_str().as_bytes(), "cwd"))
            .transpose()?;
        Ok(Prepared {
            argv,
            envp,
            program,
            cwd,
            filter: filter::program(),
            argv0: argv0.clone(),
        })
    }
}

/// execvp's search: a name with a slash is used as is; otherwise the first
/// executable regular file in PATH (default `/usr/local/bin:/usr/bin:/bin`).
fn find_program(argv0: &OsStr, path: Option<&OsStr>, cwd: Option<&Path>) -> Option<PathBuf> {
    if argv0.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(argv0));
    }
    if argv0.is_empty() {
        return None;
    }
    let path = path.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin"));
    for dir in path.as_bytes().split(|b| *b == b':') {
        let dir = if dir.is_empty() { &b"."[..] } else { dir };
        let mut cand = PathBuf::from(OsStr::from_bytes(dir));
        cand.push(argv0);
        let probe = match (cand.is_relative(), cwd) {
            (true, Some(c)) => c.join(&cand),
            _ => cand.clone(),
        };
        if let Ok(m) = std::fs::metadata(&probe) {
            if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                return Some(cand);
            }
        }
    }
    None
}

/// Raw pointers for execve, built in the tracer thread just before fork.
pub struct ExecPtrs {
    pub argv: Vec<*const libc::c_char>,
    pub envp: Vec<*const libc::c_char>,
}

impl ExecPtrs {
    pub fn new(p: &Prepared) -> ExecPtrs {
        let mut argv: Vec<_> = p.argv.iter().map(|c| c.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<_> = p.envp.iter().map(|c| c.as_ptr()).collect();
        envp.push(std::ptr::null());
        ExecPtrs { argv, envp }
    }
}

/// Report `tag` + errno on the status pipe and exit.
///
/// # Safety
/// Only called in the forked child.
unsafe fn fail(fd: i32, tag: u8, errno: i32, code: i32) -> ! {
    let e = errno.to_ne_bytes();
    let msg = [tag, e[0], e[1], e[2], e[3]];
    // SAFETY: writing a local buffer to our pipe, then leaving without
    // running any of the parent's atexit handlers.
    unsafe {
        libc::write(fd, msg.as_ptr() as *const libc::c_void, msg.len());
        libc::_exit(code)
    }
}

fn errno() -> i32 {
    // SAFETY: reading the thread-local errno.
    unsafe { *libc::__errno_location() }
}

/// The child after fork: become traceable, stop so the parent can set the
/// ptrace options, install the seccomp filter, exec.
///
/// # Safety
/// Must run in a freshly forked child; only async-signal-safe calls follow.
pub unsafe fn exec_child(p: &Prepared, ptrs: &ExecPtrs, status_fd: i32) -> ! {
    // SAFETY (whole block): raw syscalls on data prepared before fork.
    unsafe {
        // Undo what a Python parent may have changed: blocked signals and
        // ignored SIGPIPE/SIGXFSZ are inherited across exec.
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::signal(libc::SIGXFSZ, libc::SIG_DFL);

        if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) == -1 {
            fail(status_fd, TAG_PTRACE, errno(), 127);
        }
        // The parent sets PTRACE_O_TRACESECCOMP while we are stopped; a
        // SECCOMP_RET_TRACE without it would fail our execve with ENOSYS.
        libc::raise(libc::SIGSTOP);
        if let Some(cwd) = &p.cwd {
            if libc::chdir(cwd.as_ptr()) == -1 {
                fail(status_fd, TAG_CHDIR, errno(), 127);
            }
        }
        let prog = libc::sock_fprog {
            len: p.filter.len() as u16,
            filter: p.filter.as_ptr() as *mut libc::sock_filter,
        };
        let install = || {
            libc::syscall(
                libc::SYS_seccomp,
                1, // SECCOMP_SET_MODE_FILTER
                0,
                &prog as *const libc::sock_fprog,
            )
        };
        // Root (CAP_SYS_ADMIN) may install a filter without no_new_privs,
        // which keeps setuid binaries working as far as ptrace allows.
        if install() != 0 {
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            if install() != 0 {
                fail(status_fd, TAG_SECCOMP, errno(), 127);
            }
        }
        match &p.program {
            None => fail(status_fd, TAG_EXEC, libc::ENOENT, 127),
            Some(prog) => {
                libc::execve(prog.as_ptr(), ptrs.argv.as_ptr(), ptrs.envp.as_ptr());
                let e = errno();
                let code = if e == libc::EACCES || e == libc::ENOEXEC {
                    126
                } else {
                    127
                };
                fail(status_fd, TAG_EXEC, e, code)
            }
        }
    }
}
