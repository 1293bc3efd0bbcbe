//! Starting the command: a small reaper process (a child subreaper) that
//! forks the command and reports the exit status of every descendant it
//! reaps — the command itself and every orphan — on a pipe. EOF on that
//! pipe means the whole tree has exited, whatever the processes did with
//! their file descriptors.
//!
//! Everything is prepared before `fork`; both forked processes make only
//! async-signal-safe calls (the host may be a multi-threaded Python).

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use roar_trace_format::{SpawnConfig, SpawnError};

/// Why the command could not start, sent as `[tag, errno(4)]`.
pub const TAG_CHDIR: u8 = 2;
pub const TAG_EXEC: u8 = 4;

pub struct Prepared {
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
    /// The resolved program; `None` when not found in PATH.
    pub program: Option<CString>,
    pub cwd: Option<CString>,
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

    /// The program as an absolute path (relative to `cwd` if relative).
    pub fn program_path(&self, cwd: Option<&Path>) -> Option<PathBuf> {
        let p = PathBuf::from(OsStr::from_bytes(self.program.as_ref()?.as_bytes()));
        Some(match (p.is_relative(), cwd) {
            (true, Some(c)) => c.join(p),
            _ => p,
        })
    }
}

/// execvp's search (as the ptrace backend does it): a name with a slash
/// is used as is; otherwise the first executable regular file in PATH.
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
    // SAFETY: reading the thread-local errno.
    unsafe { *libc::__errno_location() }
}

/// The started job: the reaper's pid, the command's pid, and the pipe on
/// which the reaper reports `(pid, wait status)` pairs until it exits.
pub struct Started {
    pub reaper: i32,
    pub root: i32,
    pub status_fd: i32,
    /// `(tag, errno)` when the command could not be executed.
    pub exec_failure: Option<(u8, i32)>,
}

fn pipe() -> std::io::Result<[i32; 2]> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two fds into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fds)
}

fn close(fd: i32) {
    // SAFETY: closing an fd we own.
    unsafe { libc::close(fd) };
}

fn read_full(fd: i32, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reading into the unfilled part of a live buffer.
        let n = unsafe {
            libc::read(
                fd,
                buf[got..].as_mut_ptr() as *mut libc::c_void,
                buf.len() - got,
            )
        };
        if n < 0 && errno() == libc::EINTR {
            continue;
        }
        if n <= 0 {
            break;
        }
        got += n as usize;
    }
    got
}

/// Fork the reaper, which forks and execs the command. Returns once the
/// command has been exec'd (or failed to be).
pub fn start(p: &Prepared) -> Result<Started, SpawnError> {
    let [status_r, status_w] = pipe()?;
    let [exec_r, exec_w] = match pipe() {
        Ok(f) => f,
        Err(e) => {
            close(status_r);
            close(status_w);
            return Err(e.into());
        }
    };
    let mut argv: Vec<*const libc::c_char> = p.argv.iter().map(|c| c.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = p.envp.iter().map(|c| c.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: fork; the child runs only `reaper` (async-signal-safe calls
    // on data prepared above).
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: we are the freshly forked child.
        unsafe { reaper(p, &argv, &envp, status_w, exec_w) };
    }
    close(status_w);
    close(exec_w);
    if pid < 0 {
        let e = std::io::Error::last_os_error();
        close(status_r);
        close(exec_r);
        return Err(e.into());
    }
    let mut first = [0u8; 8];
    let got = read_full(status_r, &mut first);
    let root = i32::from_ne_bytes([first[0], first[1], first[2], first[3]]);
    if got != 8 || root <= 0 {
        close(status_r);
        close(exec_r);
        let mut st = 0;
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        return Err(SpawnError::Io(if got == 8 {
            std::io::Error::from_raw_os_error(-root)
        } else {
            std::io::Error::other("the preload reaper process ended before starting the command")
        }));
    }
    // EOF once the command has exec'd (close-on-exec), or [tag, errno].
    let mut fail = [0u8; 5];
    let n = read_full(exec_r, &mut fail);
    close(exec_r);
    let exec_failure = (n == 5).then(|| {
        (
            fail[0],
            i32::from_ne_bytes([fail[1], fail[2], fail[3], fail[4]]),
        )
    });
    Ok(Started {
        reaper: pid,
        root,
        status_fd: status_r,
        exec_failure,
    })
}

fn write_all(fd: i32, b: &[u8]) {
    // SAFETY: writing a live buffer to our pipe (short writes of <=8
    // bytes to a pipe do not happen).
    unsafe { libc::write(fd, b.as_ptr() as *const libc::c_void, b.len()) };
}

/// The reaper: becomes a child subreaper, forks the command, then reaps
/// every process that ends up its child and reports it.
///
/// # Safety
/// Must run in a freshly forked child; only async-signal-safe calls follow.
unsafe fn reaper(
    p: &Prepared,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    status_w: i32,
    exec_w: i32,
) -> ! {
    // SAFETY (whole block): raw syscalls on data prepared before fork.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        let pid = libc::fork();
        if pid == 0 {
            command(p, argv, envp, exec_w);
        }
        libc::close(exec_w);
        if pid < 0 {
            let mut rec = [0u8; 8];
            rec[..4].copy_from_slice(&(-errno()).to_ne_bytes());
            write_all(status_w, &rec);
            libc::_exit(1);
        }
        let mut rec = [0u8; 8];
        rec[..4].copy_from_slice(&pid.to_ne_bytes());
        write_all(status_w, &rec);
        // A Ctrl-C in the terminal reaches the whole foreground group: the
        // command decides what to do with it; the reaper must outlive it.
        for s in [libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGHUP] {
            libc::signal(s, libc::SIG_IGN);
        }
        // Hold nothing of the host's but the status pipe.
        if status_w > 0 {
            libc::syscall(libc::SYS_close_range, 0u32, (status_w - 1) as u32, 0u32);
        }
        libc::syscall(libc::SYS_close_range, (status_w + 1) as u32, u32::MAX, 0u32);
        loop {
            let mut st = 0;
            let r = libc::waitpid(-1, &mut st, libc::__WALL);
            if r > 0 {
                let mut rec = [0u8; 8];
                rec[..4].copy_from_slice(&r.to_ne_bytes());
                rec[4..].copy_from_slice(&st.to_ne_bytes());
                write_all(status_w, &rec);
            } else if errno() != libc::EINTR {
                break; // ECHILD: every descendant is gone.
            }
        }
        libc::_exit(0)
    }
}

/// Report `tag` + errno on the exec pipe and exit.
unsafe fn fail(fd: i32, tag: u8, e: i32, code: i32) -> ! {
    let b = e.to_ne_bytes();
    let msg = [tag, b[0], b[1], b[2], b[3]];
    write_all(fd, &msg);
    // SAFETY: leaving the forked child without running any handlers.
    unsafe { libc::_exit(code) }
}

/// The command, after the reaper's fork.
unsafe fn command(
    p: &Prepared,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    exec_w: i32,
) -> ! {
    // SAFETY (whole block): raw syscalls on data prepared before fork.
    unsafe {
        // Undo what a Python host may have changed: blocked signals and
        // ignored SIGPIPE/SIGXFSZ are inherited across exec.
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::signal(libc::SIGXFSZ, libc::SIG_DFL);
        if let Some(cwd) = &p.cwd {
            if libc::chdir(cwd.as_ptr()) == -1 {
                fail(exec_w, TAG_CHDIR, errno(), 127);
            }
        }
        match &p.program {
            None => fail(exec_w, TAG_EXEC, libc::ENOENT, 127),
            Some(prog) => {
                libc::execve(prog.as_ptr(), argv.as_ptr(), envp.as_ptr());
                let e = errno();
                let code = if e == libc::EACCES || e == libc::ENOEXEC {
                    126
                } else {
                    127
                };
                fail(exec_w, TAG_EXEC, e, code)
            }
        }
    }
}
