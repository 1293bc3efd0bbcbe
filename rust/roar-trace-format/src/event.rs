//! Raw events a backend reports, in the order they happened.
//!
//! Path-carrying events name absolute, normalised paths (see README.md for
//! how backends resolve them). Except for [`Event::Open`], which carries its
//! result, and [`Event::Unlink`]/[`Event::Rmdir`], which may be reported
//! for a call that then fails (the summarizer drops a `delete` of a path
//! that exists at the end), backends report only syscalls that succeeded.

use crate::path::RawPath;

/// `open(2)` flags, decoded by the backend (raw values differ per arch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenFlags {
    /// `O_WRONLY` or `O_RDWR`.
    pub write: bool,
    /// `O_RDONLY` or `O_RDWR`.
    pub read: bool,
    pub create: bool,
    pub truncate: bool,
    pub append: bool,
    pub exclusive: bool,
    pub directory: bool,
    /// `O_PATH`: no data access at all.
    pub path_only: bool,
    /// `O_TMPFILE`: an unnamed file (named later by `linkat`).
    pub tmpfile: bool,
}

impl OpenFlags {
    /// Decode raw `open(2)` flags as this architecture's libc defines them
    /// (every backend decodes the same way, so they classify alike).
    pub fn from_raw(f: i32) -> Self {
        let acc = f & libc::O_ACCMODE;
        let tmpfile = f & libc::O_TMPFILE == libc::O_TMPFILE;
        OpenFlags {
            read: acc == libc::O_RDONLY || acc == libc::O_RDWR,
            write: acc == libc::O_WRONLY || acc == libc::O_RDWR,
            create: f & libc::O_CREAT != 0,
            truncate: f & libc::O_TRUNC != 0,
            append: f & libc::O_APPEND != 0,
            exclusive: f & libc::O_EXCL != 0,
            directory: f & libc::O_DIRECTORY != 0 && !tmpfile,
            path_only: f & libc::O_PATH != 0,
            tmpfile,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// open/openat/openat2/creat. `result` is the fd or `-errno` (any
    /// value ≥ 0 when the backend knows only that the open succeeds).
    Open {
        pid: i32,
        path: RawPath,
        flags: OpenFlags,
        result: i64,
        /// Whether the path existed just before the call (needed for
        /// `O_CREAT`; `None` when the backend did not look).
        existed_before: Option<bool>,
        /// mtime (ns) at syscall entry, for writable opens of existing files
        /// without `O_TRUNC`.
        mtime_ns_before: Option<i64>,
        /// The opened object is a directory.
        is_dir: bool,
    },
    /// rename/renameat/renameat2. `exchange` is `RENAME_EXCHANGE`.
    Rename {
        pid: i32,
        from: RawPath,
        to: RawPath,
        to_existed_before: bool,
        exchange: bool,
    },
    /// unlink/unlinkat, or rmdir below: the call was made on an existing
    /// entry of the right type (it may still fail, e.g. ENOTEMPTY/EACCES).
    Unlink {
        pid: i32,
        path: RawPath,
    },
    Rmdir {
        pid: i32,
        path: RawPath,
    },
    Mkdir {
        pid: i32,
        path: RawPath,
    },
    /// truncate(path) or ftruncate(fd) (resolved to the fd's path).
    Truncate {
        pid: i32,
        path: RawPath,
    },
    /// link/linkat (including `O_TMPFILE` materialisation): the new name.
    Link {
        pid: i32,
        to: RawPath,
    },
    Symlink {
        pid: i32,
        to: RawPath,
    },
    /// A successful execve/execveat of `path` (the script or binary named).
    Exec {
        pid: i32,
        path: RawPath,
    },
    /// chdir/fchdir (informative; does not change the summary).
    Chdir {
        pid: i32,
        path: RawPath,
    },
    /// copy_file_range/sendfile between regular files (`None`: not a
    /// regular file).
    CopyRange {
        pid: i32,
        from: Option<RawPath>,
        to: Option<RawPath>,
    },
    /// A directory listing (getdents or an `O_DIRECTORY` open).
    DirList {
        pid: i32,
        path: RawPath,
    },
    /// A new process (not a thread) `pid` created by `ppid`.
    ProcessStart {
        pid: i32,
        ppid: i32,
    },
    /// Process `pid` now runs `exe` with `argv`.
    ProcessExec {
        pid: i32,
        argv: Vec<RawPath>,
        exe: Option<RawPath>,
    },
    /// Process `pid` ended: `exit_code` for a normal exit, else `signal`.
    ProcessExit {
        pid: i32,
        exit_code: Option<i32>,
        signal: Option<i32>,
    },
    /// Something the summary consumer should know (e.g. io_uring denied).
    Warning {
        message: String,
    },
}
