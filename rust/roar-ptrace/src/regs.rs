//! Syscall arguments and results of a stopped tracee, per architecture.

use std::io;

/// The registers of a tracee stopped at a syscall.
pub struct Regs {
    inner: Inner,
}

#[cfg(target_arch = "x86_64")]
type Inner = libc::user_regs_struct;

#[cfg(target_arch = "aarch64")]
type Inner = libc::user_regs_struct;

impl Regs {
    /// PTRACE_GETREGS(ET). Fails with ESRCH when the tracee vanished.
    pub fn get(tid: i32) -> io::Result<Regs> {
        // SAFETY: user_regs_struct is plain data; all-zero is a valid value.
        let mut inner: Inner = unsafe { std::mem::zeroed() };
        #[cfg(target_arch = "x86_64")]
        // SAFETY: PTRACE_GETREGS writes one user_regs_struct to the pointer,
        // which points to a live, correctly sized local.
        let r = unsafe {
            libc::ptrace(
                libc::PTRACE_GETREGS,
                tid,
                std::ptr::null_mut::<libc::c_void>(),
                &mut inner as *mut Inner,
            )
        };
        #[cfg(target_arch = "aarch64")]
        let r = {
            let mut iov = libc::iovec {
                iov_base: &mut inner as *mut Inner as *mut libc::c_void,
                iov_len: std::mem::size_of::<Inner>(),
            };
            // SAFETY: the iovec describes the live local `inner`; the kernel
            // writes at most iov_len bytes.
            unsafe {
                libc::ptrace(
                    libc::PTRACE_GETREGSET,
                    tid,
                    libc::NT_PRSTATUS as usize as *mut libc::c_void,
                    &mut iov as *mut libc::iovec,
                )
            }
        };
        if r == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(Regs { inner })
    }

    /// The six syscall arguments (valid at the syscall-entry/seccomp stop).
    pub fn args(&self) -> [u64; 6] {
        #[cfg(target_arch = "x86_64")]
        {
            let r = &self.inner;
            [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9]
        }
        #[cfg(target_arch = "aarch64")]
        {
            let r = &self.inner.regs;
            [r[0], r[1], r[2], r[3], r[4], r[5]]
        }
    }

    /// The return value (valid at the syscall-exit stop).
    pub fn ret(&self) -> i64 {
        #[cfg(target_arch = "x86_64")]
        {
            self.inner.rax as i64
        }
        #[cfg(target_arch = "aarch64")]
        {
            self.inner.regs[0] as i64
        }
    }

    /// Make the kernel skip the syscall: it then returns `-ENOSYS`.
    #[cfg(target_arch = "x86_64")]
    pub fn skip_syscall(mut self, tid: i32) -> io::Result<()> {
        self.inner.orig_rax = u64::MAX;
        self.inner.rax = (-(libc::ENOSYS as i64)) as u64;
        // SAFETY: PTRACE_SETREGS reads one user_regs_struct from the pointer.
        let r = unsafe {
            libc::ptrace(
                libc::PTRACE_SETREGS,
                tid,
                std::ptr::null_mut::<libc::c_void>(),
                &self.inner as *const Inner,
            )
        };
        if r == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub fn skip_syscall(self, _tid: i32) -> io::Result<()> {
        Ok(())
    }
}
