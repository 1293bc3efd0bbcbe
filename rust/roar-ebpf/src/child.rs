//! The traced command's process: prepared before fork, forked *paused* (it
//! blocks reading a pipe until the service has put its pid in the kernel's
//! pid map), then released to chdir and exec. After fork the child makes
//! only raw syscalls (the parent may be a multi-threaded Python process).
//! Preparing, exec'ing and reporting failures are shared with the other
//! backends (`roar_trace_format::launch`).

use roar_trace_format::launch::{self, errno, ExecPtrs, Launch};

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
    let status = launch::read_status(fd);
    // SAFETY: closing our own fd.
    unsafe { libc::close(fd) };
    status
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
pub fn fork_paused(p: &Launch) -> std::io::Result<Paused> {
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
    let ptrs = ExecPtrs::new(p);
    // SAFETY: fork; the child only runs `child_main` (raw syscalls on data
    // prepared above) and never returns.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: we are the freshly forked child.
        unsafe { child_main(p, &ptrs, rel_r, rel_w, st_w) };
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
/// Must run in a freshly forked child.
unsafe fn child_main(p: &Launch, ptrs: &ExecPtrs<'_>, rel_r: i32, rel_w: i32, st_w: i32) -> ! {
    // SAFETY (whole block): raw syscalls on data prepared before fork.
    unsafe {
        libc::close(rel_w);
        launch::reset_inherited_signals();
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
        launch::chdir_and_exec(p, ptrs, st_w)
    }
}
