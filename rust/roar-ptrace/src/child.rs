//! Everything the child needs, prepared before fork, and the child side of
//! the fork, which only makes raw syscalls (the parent may be a
//! multi-threaded Python process: no allocation, no locks after fork).
//! Preparing, exec'ing and reporting are shared with the other backends
//! (`roar_trace_format::launch`); this adds ptrace and the seccomp filter.

use roar_trace_format::launch::{self, errno, fail, ExecPtrs, Launch};
use roar_trace_format::SpawnError;

use crate::{filter, Error, SpawnConfig};

/// Why the child gave up, written to the status pipe as `[tag, errno(4)]`;
/// the other tags are `launch::TAG_CHDIR` (2) and `launch::TAG_EXEC` (4).
pub const TAG_PTRACE: u8 = 1;
pub const TAG_SECCOMP: u8 = 3;

pub struct Prepared {
    pub launch: Launch,
    pub filter: Vec<libc::sock_filter>,
}

// SAFETY: sock_filter is plain data; Prepared owns everything it points to.
unsafe impl Send for Prepared {}

impl Prepared {
    pub fn new(cfg: &SpawnConfig) -> Result<Prepared, Error> {
        let launch = Launch::new(cfg).map_err(|e| match e {
            SpawnError::InvalidArgument(m) => Error::InvalidArgument(m),
            SpawnError::Io(e) => Error::Io(e),
            other => Error::Io(std::io::Error::other(other.to_string())),
        })?;
        Ok(Prepared {
            launch,
            filter: filter::program(),
        })
    }
}

/// The child after fork: become traceable, stop so the parent can set the
/// ptrace options, install the seccomp filter (chdir is not traced), chdir
/// and exec.
///
/// # Safety
/// Must run in a freshly forked child; only async-signal-safe calls follow.
pub unsafe fn exec_child(p: &Prepared, ptrs: &ExecPtrs, status_fd: i32) -> ! {
    // SAFETY (whole block): raw syscalls on data prepared before fork.
    unsafe {
        launch::reset_inherited_signals();
        if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) == -1 {
            fail(status_fd, TAG_PTRACE, errno(), 127);
        }
        // The parent sets PTRACE_O_TRACESECCOMP while we are stopped; a
        // SECCOMP_RET_TRACE without it would fail our execve with ENOSYS.
        libc::raise(libc::SIGSTOP);
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
        launch::chdir_and_exec(&p.launch, ptrs, status_fd)
    }
}
