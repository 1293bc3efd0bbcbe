//! Starting the command: a small reaper process (a child subreaper) that
//! forks the command and reports the exit status of every descendant it
//! reaps — the command itself and every orphan — on a pipe. EOF on that
//! pipe means the whole tree has exited, whatever the processes did with
//! their file descriptors.
//!
//! Everything is prepared before `fork` (`roar_trace_format::launch`,
//! shared with the other backends); both forked processes make only
//! async-signal-safe calls (the host may be a multi-threaded Python).

use roar_trace_format::launch::{self, errno, ExecPtrs, Launch};
use roar_trace_format::SpawnError;

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
/// command has been exec'd (or failed to be). `keep_fd` (or -1) stays open
/// in the reaper for its whole life (the job's lock: see `lib.rs`).
pub fn start(p: &Launch, keep_fd: i32) -> Result<Started, SpawnError> {
    let [status_r, status_w] = pipe()?;
    let [exec_r, exec_w] = match pipe() {
        Ok(f) => f,
        Err(e) => {
            close(status_r);
            close(status_w);
            return Err(e.into());
        }
    };
    let ptrs = ExecPtrs::new(p);
    // SAFETY: fork; the child runs only `reaper` (async-signal-safe calls
    // on data prepared above).
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: we are the freshly forked child.
        unsafe { reaper(p, &ptrs, status_w, exec_w, keep_fd) };
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
    let exec_failure = launch::read_status(exec_r);
    close(exec_r);
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

/// Close every fd but those in `keep` (sorted, ascending; negatives ignored).
///
/// # Safety
/// Raw syscalls only (async-signal-safe).
unsafe fn close_all_but(keep: &[i32]) {
    let mut from: u32 = 0;
    for &fd in keep {
        if fd < 0 {
            continue;
        }
        let fd = fd as u32;
        if fd > from {
            // SAFETY: close_range on our own fd table.
            unsafe { libc::syscall(libc::SYS_close_range, from, fd - 1, 0u32) };
        }
        from = fd + 1;
    }
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_close_range, from, u32::MAX, 0u32) };
}

/// The reaper: becomes a child subreaper, forks the command, then reaps
/// every process that ends up its child and reports it.
///
/// # Safety
/// Must run in a freshly forked child; only async-signal-safe calls follow.
unsafe fn reaper(p: &Launch, ptrs: &ExecPtrs<'_>, status_w: i32, exec_w: i32, keep_fd: i32) -> ! {
    // SAFETY (whole block): raw syscalls on data prepared before fork.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        let pid = libc::fork();
        if pid == 0 {
            // The command: reset what the host changed, chdir, exec.
            launch::reset_inherited_signals();
            launch::chdir_and_exec(p, ptrs, exec_w);
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
        // SIGPIPE: the host may stop reading (it died, or stopped waiting
        // for processes left running); the reaper goes on reaping.
        for s in [
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGPIPE,
        ] {
            libc::signal(s, libc::SIG_IGN);
        }
        // Hold nothing of the host's but the status pipe (and the job's lock).
        let mut keep = [status_w, keep_fd];
        keep.sort_unstable();
        close_all_but(&keep);
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
