//! The seccomp-bpf program: which syscalls stop the tracee.
//!
//! Only syscalls that name or change files stop (`SECCOMP_RET_TRACE`, with
//! the [`Sys`] code as data); everything else — read, write, mmap, stat,
//! close, dup, chdir — runs at full speed. Syscalls of a foreign
//! architecture (and the x32 ABI) are allowed untraced.

use libc::sock_filter;

/// What a stopped syscall is, carried in `SECCOMP_RET_DATA`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum Sys {
    Open = 1,
    Openat,
    Openat2,
    Creat,
    Execve,
    Execveat,
    Rename,
    Renameat,
    Renameat2,
    Link,
    Linkat,
    Symlink,
    Symlinkat,
    Unlink,
    Unlinkat,
    Rmdir,
    Mkdir,
    Mkdirat,
    Truncate,
    Ftruncate,
    CopyFileRange,
    Sendfile,
    IoUringSetup,
}

const ALL: &[Sys] = &[
    Sys::Open,
    Sys::Openat,
    Sys::Openat2,
    Sys::Creat,
    Sys::Execve,
    Sys::Execveat,
    Sys::Rename,
    Sys::Renameat,
    Sys::Renameat2,
    Sys::Link,
    Sys::Linkat,
    Sys::Symlink,
    Sys::Symlinkat,
    Sys::Unlink,
    Sys::Unlinkat,
    Sys::Rmdir,
    Sys::Mkdir,
    Sys::Mkdirat,
    Sys::Truncate,
    Sys::Ftruncate,
    Sys::CopyFileRange,
    Sys::Sendfile,
    Sys::IoUringSetup,
];

impl Sys {
    pub fn from_data(d: u64) -> Option<Sys> {
        ALL.iter().copied().find(|s| *s as u64 == d)
    }

    /// The syscall `nr` of architecture `arch` (`AUDIT_ARCH_*`, as
    /// `PTRACE_GET_SYSCALL_INFO` reports it) when it is one the filter
    /// would stop on: what a syscall-stop tracer (attach mode, no filter)
    /// decodes. Foreign-arch and x32 syscalls are `None`, as in the filter.
    pub fn from_syscall(arch: u32, nr: u64) -> Option<Sys> {
        if arch != table::AUDIT_ARCH {
            return None;
        }
        if table::X32_BIT.is_some_and(|bit| nr & u64::from(bit) != 0) {
            return None;
        }
        table::TABLE
            .iter()
            .find(|(n, _)| *n as u64 == nr)
            .map(|(_, s)| *s)
    }
}

#[cfg(target_arch = "x86_64")]
mod table {
    use super::Sys;
    use libc::c_long;
    pub const AUDIT_ARCH: u32 = 0xC000_003E;
    pub const TABLE: &[(c_long, Sys)] = &[
        (libc::SYS_open, Sys::Open),
        (libc::SYS_openat, Sys::Openat),
        (libc::SYS_openat2, Sys::Openat2),
        (libc::SYS_creat, Sys::Creat),
        (libc::SYS_execve, Sys::Execve),
        (libc::SYS_execveat, Sys::Execveat),
        (libc::SYS_rename, Sys::Rename),
        (libc::SYS_renameat, Sys::Renameat),
        (libc::SYS_renameat2, Sys::Renameat2),
        (libc::SYS_link, Sys::Link),
        (libc::SYS_linkat, Sys::Linkat),
        (libc::SYS_symlink, Sys::Symlink),
        (libc::SYS_symlinkat, Sys::Symlinkat),
        (libc::SYS_unlink, Sys::Unlink),
        (libc::SYS_unlinkat, Sys::Unlinkat),
        (libc::SYS_rmdir, Sys::Rmdir),
        (libc::SYS_mkdir, Sys::Mkdir),
        (libc::SYS_mkdirat, Sys::Mkdirat),
        (libc::SYS_truncate, Sys::Truncate),
        (libc::SYS_ftruncate, Sys::Ftruncate),
        (libc::SYS_copy_file_range, Sys::CopyFileRange),
        (libc::SYS_sendfile, Sys::Sendfile),
        (libc::SYS_io_uring_setup, Sys::IoUringSetup),
    ];
    pub const X32_BIT: Option<u32> = Some(0x4000_0000);
}

#[cfg(target_arch = "aarch64")]
mod table {
    use super::Sys;
    use libc::c_long;
    pub const AUDIT_ARCH: u32 = 0xC000_00B7;
    pub const TABLE: &[(c_long, Sys)] = &[
        (libc::SYS_openat, Sys::Openat),
        (libc::SYS_openat2, Sys::Openat2),
        (libc::SYS_execve, Sys::Execve),
        (libc::SYS_execveat, Sys::Execveat),
        (libc::SYS_renameat, Sys::Renameat),
        (libc::SYS_renameat2, Sys::Renameat2),
        (libc::SYS_linkat, Sys::Linkat),
        (libc::SYS_symlinkat, Sys::Symlinkat),
        (libc::SYS_unlinkat, Sys::Unlinkat),
        (libc::SYS_mkdirat, Sys::Mkdirat),
        (libc::SYS_truncate, Sys::Truncate),
        (libc::SYS_ftruncate, Sys::Ftruncate),
        (libc::SYS_copy_file_range, Sys::CopyFileRange),
        (libc::SYS_sendfile, Sys::Sendfile),
        (libc::SYS_io_uring_setup, Sys::IoUringSetup),
    ];
    pub const X32_BIT: Option<u32> = None;
}

const RET_ALLOW: u32 = 0x7fff_0000;
const RET_TRACE: u32 = 0x7ff0_0000;

fn stmt(code: u32, k: u32) -> sock_filter {
    sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// Build the filter program.
pub fn program() -> Vec<sock_filter> {
    use libc::{BPF_ABS, BPF_JEQ, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_RET, BPF_W};
    let ld = BPF_LD | BPF_W | BPF_ABS;
    let jeq = BPF_JMP | BPF_JEQ | BPF_K;
    let ret = BPF_RET | BPF_K;
    let mut p = vec![
        stmt(ld, 4), // seccomp_data.arch
        jump(jeq, table::AUDIT_ARCH, 1, 0),
        stmt(ret, RET_ALLOW),
        stmt(ld, 0), // seccomp_data.nr
    ];
    if let Some(bit) = table::X32_BIT {
        p.push(jump(BPF_JMP | BPF_JSET | BPF_K, bit, 0, 1));
        p.push(stmt(ret, RET_ALLOW));
    }
    for &(nr, sys) in table::TABLE {
        p.push(jump(jeq, nr as u32, 0, 1));
        p.push(stmt(ret, RET_TRACE | sys as u32));
    }
    p.push(stmt(ret, RET_ALLOW));
    p
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_round_trip() {
        for s in super::ALL {
            assert_eq!(super::Sys::from_data(*s as u64), Some(*s));
        }
        assert!(super::program().len() < 100);
    }

    #[test]
    fn syscall_numbers_map_like_the_filter() {
        use super::{table, Sys};
        for &(nr, sys) in table::TABLE {
            assert_eq!(Sys::from_syscall(table::AUDIT_ARCH, nr as u64), Some(sys));
            assert_eq!(Sys::from_syscall(0x4000_0003, nr as u64), None); // i386
        }
        assert_eq!(
            Sys::from_syscall(table::AUDIT_ARCH, libc::SYS_read as u64),
            None
        );
    }
}
