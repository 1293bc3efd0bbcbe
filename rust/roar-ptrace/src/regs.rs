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
}

/// `struct ptrace_syscall_info` (linux/ptrace.h, kernel ≥ 5.3), with the
/// union as raw words: entry/seccomp = `nr`, `args[6]`; exit = `rval`,
/// `is_error`.
#[repr(C)]
#[derive(Default)]
struct RawSyscallInfo {
    op: u8,
    reserved: u8,
    flags: u16,
    arch: u32,
    instruction_pointer: u64,
    stack_pointer: u64,
    data: [u64; 8],
}

const INFO_ENTRY: u8 = 1;
const INFO_EXIT: u8 = 2;

/// What `PTRACE_GET_SYSCALL_INFO` says about a syscall stop: the kernel
/// tells entry from exit, so a tracer that attached mid-syscall cannot get
/// out of step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyscallInfo {
    /// `arch` is the `AUDIT_ARCH_*` of the call (an x86_64 process may
    /// make i386 calls).
    Entry {
        arch: u32,
        nr: u64,
        args: [u64; 6],
    },
    Exit {
        rval: i64,
    },
    /// Not at a syscall stop.
    Other,
}

impl SyscallInfo {
    /// `None` when the request fails (tracee gone, kernel < 5.3).
    pub fn get(tid: i32) -> Option<SyscallInfo> {
        let mut raw = RawSyscallInfo::default();
        // SAFETY: the kernel writes at most `size` bytes (the second
        // argument) into `raw`, a live local of that size.
        let r = unsafe {
            libc::ptrace(
                libc::PTRACE_GET_SYSCALL_INFO,
                tid,
                std::mem::size_of::<RawSyscallInfo>() as *mut libc::c_void,
                &mut raw as *mut RawSyscallInfo,
            )
        };
        if r <= 0 {
            return None;
        }
        let d = raw.data;
        Some(match raw.op {
            INFO_ENTRY => SyscallInfo::Entry {
                arch: raw.arch,
                nr: d[0],
                args: [d[1], d[2], d[3], d[4], d[5], d[6]],
            },
            INFO_EXIT => SyscallInfo::Exit { rval: d[0] as i64 },
            _ => SyscallInfo::Other,
        })
    }
}
