//! The traced command's process: prepared before fork, forked *paused* (it
//! blocks reading a pipe until the service has put its pid in the kernel's
//! pid map), then released to chdir and exec. After fork the child makes
//! only raw syscalls (the parent may be a multi-threaded Python process).
//! PATH lookup and exec errors follow the ptrace backend (`child.rs`
//! there): exit 127 and "command not found: X", 126 for EACCES/ENOEXEC.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use roar_trace_format::{SpawnConfig, SpawnError};

pub const TAG_CHDIR: u8 = 2;
pub const TAG_EXEC: u8 = 4;

pub struct Prepared {
    argv: Vec<CString>,
    envp: Vec<CString>,
    /// The resolved program; `None` when not found in PATH.
    program: Option<CString>,
    cwd: Option<CString>,
    pub argv0: OsString,
}

fn cstring(b: &[u8], what: &str) -> Result<CString, SpawnError> {
    CString::new(b).map_err(|_| SpawnError::InvalidArgument(format!("{what} contains a NUL byte")))
}

impl Prepared {
    pub fn new(cfg: &SpawnConfig) -> Result<Prepared, SpawnError> {
        let Some(argv0) = cfg.argv.first() else {
            return Err(SpawnError::InvalidArgument("empty argv".into()));
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
            argv0: argv0.clone(),
        })
    }

    /// Why the child did not exec, from its status-pipe message.
    pub fn exec_error(&self, tag: u8, errno: i32) -> String {
        let e = std::io::Error::from_raw_os_error(errno);
        match tag {
            TAG_CHDIR => format!("cannot change directory: {e}"),
            _ if self.program.is_none() => {
                format!("command not found: {}", self.argv0.to_string_lossy())
            }
            _ => format!("{}: {e}", self.argv0.to_string_lossy()),
        }
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

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A forked child waiting to be released.
pub struct Paused {
    pub pid: i32,
    release_fd: i32,
    status_fd: i32,
}

impl Paused {
    /// Let the child chdir and exec.
    pub fn release(&mut self) -> std::io::Result<()> {
        let b = [1u8];
        // SAFETY: writing one byte from a local buffer to our pipe.
        let n = unsafe { libc::write(self.release_fd, b.as_ptr() as *const libc::c_void, 1) };
        let r = if n == 1 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        };
        self.close_release();
        r
    }

    fn close_release(&mut self) {
        if self.release_fd >= 0 {
            // SAFETY: closing our own pipe end once.
            unsafe { libc::close(self.release_fd) };
            self.release_fd = -1;
        }
    }

    /// Give up on the child: it exits without exec'ing; reap it.
    pub fn abort(mut self) {
        self.close_release();
        let mut st = 0;
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(self.pid, &mut st, 0) };
    }

    /// The status pipe's read end (owned; see [`read_status`]).
    pub fn into_status_fd(mut self) -> i32 {
        self.close_release();
        let fd = self.status_fd;
        self.status_fd = -1;
        fd
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        self.close_release();
        if self.status_fd >= 0 {
            // SAFETY: closing our own pipe end once.
            unsafe { libc::close(self.status_fd) };
        }
    }
}

/// `[tag, errno]` the child wrote before giving up, if any (the pipe is
/// close-on-exec: nothing means the exec succeeded). Closes `fd`.
pub fn read_status(fd: i32) -> Option<(u8, i32)> {
    let mut b = [0u8; 5];
    // SAFETY: reading into a local buffer from our own pipe fd, then closing it.
    let n = unsafe { libc::read(fd, b.as_mut_ptr() as *mut libc::c_void, b.len()) };
    // SAFETY: closing our own fd.
    unsafe { libc::close(fd) };
    (n == 5).then(|| (b[0], i32::from_ne_bytes([b[1], b[2], b[3], b[4]])))
}

fn pipe() -> std::io::Result<[i32; 2]> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two fds into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fds)
}

/// Fork the child; it waits for [`Paused::release`].
pub fn fork_paused(p: &Prepared) -> std::io::Result<Paused> {
    let [rel_r, rel_w] = pipe()?;
    let [st_r, st_w] = match pipe() {
        Ok(f) => f,
        Err(e) => {
            // SAFETY: closing the pipe we just made.
            unsafe {
                libc::close(rel_r);
                libc::close(rel_w);
            }
            return Err(e);
        }
    };
    let mut argv: Vec<*const libc::c_char> = p.argv.iter().map(|c| c.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = p.envp.iter().map(|c| c.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: fork; the child only runs `child_main` (raw syscalls on data
    // prepared above) and never returns.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: we are the freshly forked child.
        unsafe { child_main(p, &argv, &envp, rel_r, rel_w, st_w) };
    }
    let e = std::io::Error::last_os_error();
    // SAFETY: closing the child's ends in the parent.
    unsafe {
        libc::close(rel_r);
        libc::close(st_w);
    }
    if pid < 0 {
        // SAFETY: closing our ends after a failed fork.
        unsafe {
            libc::close(rel_w);
            libc::close(st_r);
        }
        return Err(e);
    }
    Ok(Paused {
        pid,
        release_fd: rel_w,
        status_fd: st_r,
    })
}

/// # Safety
/// Only in the freshly forked child; async-signal-safe calls only.
unsafe fn fail(fd: i32, tag: u8, errno: i32, code: i32) -> ! {
    let e = errno.to_ne_bytes();
    let msg = [tag, e[0], e[1], e[2], e[3]];
    // SAFETY: writing a local buffer to our pipe, then leaving without
    // running the parent's atexit handlers.
    unsafe {
        libc::write(fd, msg.as_ptr() as *const libc::c_void, msg.len());
        libc::_exit(code)
    }
}

/// # Safety
/// Must run in a freshly forked child.
unsafe fn child_main(
    p: &Prepared,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    rel_r: i32,
    rel_w: i32,
    st_w: i32,
) -> ! {
    // SAFETY (whole block): raw syscalls on data prepared before fork.
    unsafe {
        libc::close(rel_w);
        // Undo what a Python parent may have changed: blocked signals and
        // ignored SIGPIPE/SIGXFSZ are inherited across exec.
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::signal(libc::SIGXFSZ, libc::SIG_DFL);
        // Wait until our pid is traced (EOF: the parent gave up).
        let mut b = [0u8; 1];
        loop {
            let n = libc::read(rel_r, b.as_mut_ptr() as *mut libc::c_void, 1);
            if n == 1 {
                break;
            }
            if n == -1 && errno() == libc::EINTR {
                continue;
            }
            libc::_exit(127);
        }
        libc::close(rel_r);
        if let Some(cwd) = &p.cwd {
            if libc::chdir(cwd.as_ptr()) == -1 {
                fail(st_w, TAG_CHDIR, errno(), 127);
            }
        }
        match &p.program {
            None => fail(st_w, TAG_EXEC, libc::ENOENT, 127),
            Some(prog) => {
                libc::execve(prog.as_ptr(), argv.as_ptr(), envp.as_ptr());
                let e = errno();
                let code = if e == libc::EACCES || e == libc::ENOEXEC {
                    126
                } else {
                    127
                };
                fail(st_w, TAG_EXEC, e, code)
            }
        }
    }
}
