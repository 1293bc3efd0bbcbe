//! Starting the traced command, shared by every backend: what is prepared
//! before `fork` ([`Launch`], [`ExecPtrs`]), the child's side after it
//! ([`reset_inherited_signals`], [`chdir_and_exec`], [`fail`]) and how the
//! parent words a failure ([`Launch::exec_error`]).
//!
//! The host may be a multi-threaded Python process, so after `fork` the
//! child makes only raw, async-signal-safe syscalls on data prepared
//! before it: no allocation, no locks.
//!
//! A child that cannot exec reports why on a close-on-exec status pipe as
//! `[tag, errno as 4 native-endian bytes]` and exits 127 (126 when the
//! program exists but cannot be executed, as shells do). Nothing on the
//! pipe (EOF) means the exec succeeded. Backends may define tags of their
//! own for their extra steps and handle them before [`Launch::exec_error`].

use std::ffi::{CString, OsStr, OsString};
use std::marker::PhantomData;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::job::{SpawnConfig, SpawnError};

/// The child could not change to [`Launch::cwd`].
pub const TAG_CHDIR: u8 = 2;
/// The program was not found, or `execve` failed.
pub const TAG_EXEC: u8 = 4;

/// Everything `execve` needs, as C strings, resolved before fork.
#[derive(Debug)]
pub struct Launch {
    pub argv: Vec<CString>,
    /// `KEY=VALUE` entries.
    pub envp: Vec<CString>,
    /// The resolved program; `None` when not found in PATH.
    pub program: Option<CString>,
    pub cwd: Option<CString>,
    /// `argv[0]` as given, for messages.
    pub argv0: OsString,
}

fn cstring(b: &[u8], what: &str) -> Result<CString, SpawnError> {
    CString::new(b).map_err(|_| SpawnError::InvalidArgument(format!("{what} contains a NUL byte")))
}

impl Launch {
    /// Convert `cfg` and look `argv[0]` up in the `PATH` of `cfg.env`.
    pub fn new(cfg: &SpawnConfig) -> Result<Launch, SpawnError> {
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
        Ok(Launch {
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

    /// Why the child did not exec, from its status-pipe message (the
    /// shared tags; any other tag is worded as an exec failure).
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

/// The null-terminated pointer arrays `execve` takes, built just before
/// fork; they point into the [`Launch`] they were built from.
pub struct ExecPtrs<'a> {
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    _launch: PhantomData<&'a Launch>,
}

impl<'a> ExecPtrs<'a> {
    pub fn new(l: &'a Launch) -> ExecPtrs<'a> {
        let terminated = |v: &[CString]| {
            v.iter()
                .map(|c| c.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect()
        };
        ExecPtrs {
            argv: terminated(&l.argv),
            envp: terminated(&l.envp),
            _launch: PhantomData,
        }
    }
}

/// The calling thread's errno (async-signal-safe).
pub fn errno() -> i32 {
    // SAFETY: reading the thread-local errno.
    unsafe { *libc::__errno_location() }
}

/// Undo what a (Python) host may have changed that exec would pass on:
/// blocked signals and ignored SIGPIPE/SIGXFSZ.
///
/// # Safety
/// Only in a freshly forked child (async-signal-safe calls only).
pub unsafe fn reset_inherited_signals() {
    // SAFETY: raw syscalls on a local signal set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::signal(libc::SIGXFSZ, libc::SIG_DFL);
    }
}

/// Report `[tag, errno]` on the status pipe and exit with `code`.
///
/// # Safety
/// Only in a freshly forked child: it leaves with `_exit`, running none of
/// the host's exit handlers.
pub unsafe fn fail(status_fd: i32, tag: u8, errno: i32, code: i32) -> ! {
    let e = errno.to_ne_bytes();
    let msg = [tag, e[0], e[1], e[2], e[3]];
    // SAFETY: writing a local buffer to our pipe (5 bytes: one atomic
    // pipe write), then leaving.
    unsafe {
        libc::write(status_fd, msg.as_ptr() as *const libc::c_void, msg.len());
        libc::_exit(code)
    }
}

/// Change to `l.cwd` (if any) and exec the program; on failure report on
/// `status_fd` ([`TAG_CHDIR`] or [`TAG_EXEC`]) and exit 126 (EACCES,
/// ENOEXEC) or 127 (anything else; ENOENT when the program was not found).
///
/// # Safety
/// Only in a freshly forked child, with `ptrs` built from `l` before fork.
pub unsafe fn chdir_and_exec(l: &Launch, ptrs: &ExecPtrs<'_>, status_fd: i32) -> ! {
    // SAFETY (whole block): raw syscalls on data prepared before fork.
    unsafe {
        if let Some(cwd) = &l.cwd {
            if libc::chdir(cwd.as_ptr()) == -1 {
                fail(status_fd, TAG_CHDIR, errno(), 127);
            }
        }
        let Some(prog) = &l.program else {
            fail(status_fd, TAG_EXEC, libc::ENOENT, 127)
        };
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

/// The `[tag, errno]` a child wrote on the status pipe, if any (nothing,
/// or a short read, means it exec'd). Does not close `fd`.
pub fn read_status(fd: i32) -> Option<(u8, i32)> {
    let mut b = [0u8; 5];
    loop {
        // SAFETY: reading into a local buffer from the caller's pipe fd.
        let n = unsafe { libc::read(fd, b.as_mut_ptr() as *mut libc::c_void, b.len()) };
        if n == -1 && errno() == libc::EINTR {
            continue;
        }
        return (n == 5).then(|| (b[0], i32::from_ne_bytes([b[1], b[2], b[3], b[4]])));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(argv: &[&str], path: &str, cwd: Option<&Path>) -> SpawnConfig {
        SpawnConfig {
            argv: argv.iter().map(OsString::from).collect(),
            env: vec![("PATH".into(), path.into())].into_iter().collect(),
            cwd: cwd.map(Path::to_path_buf),
            intervals: false,
            recovery: None,
        }
    }

    #[test]
    fn path_lookup() {
        let dir = std::env::temp_dir().join(format!("roar-launch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let exe = dir.join("tool");
        std::fs::write(&exe, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let data = dir.join("data");
        std::fs::write(&data, "").expect("write");
        let path = format!("/nonexistent:{}", dir.display());

        let l = Launch::new(&cfg(&["tool", "x"], &path, None)).expect("launch");
        assert_eq!(l.program_path(None), Some(exe.clone()));
        assert_eq!(l.argv.len(), 2);
        assert_eq!(l.envp[0].as_bytes(), format!("PATH={path}").as_bytes());
        // Not executable: skipped, so not found.
        let l = Launch::new(&cfg(&["data"], &path, None)).expect("launch");
        assert!(l.program.is_none());
        // An empty PATH entry is the cwd, and resolved against cfg.cwd.
        let l = Launch::new(&cfg(&["tool"], ":/nonexistent", Some(&dir))).expect("launch");
        assert_eq!(l.program_path(Some(&dir)), Some(dir.join("./tool")));
        // A name with a slash is taken as is.
        let l = Launch::new(&cfg(&["./nope"], &path, None)).expect("launch");
        assert_eq!(l.program_path(None), Some(PathBuf::from("./nope")));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn rejects_nul_and_empty_argv() {
        let e = Launch::new(&cfg(&["a\0b"], "/bin", None)).expect_err("NUL");
        assert!(
            matches!(&e, SpawnError::InvalidArgument(m) if m.contains("NUL")),
            "{e}"
        );
        let e = Launch::new(&cfg(&[], "/bin", None)).expect_err("empty");
        assert!(matches!(e, SpawnError::InvalidArgument(_)));
    }

    #[test]
    fn exec_error_wording() {
        let mut l = Launch::new(&cfg(&["/no/such-tool"], "/bin", None)).expect("launch");
        let enoent = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(
            l.exec_error(TAG_CHDIR, libc::ENOENT),
            format!("cannot change directory: {enoent}")
        );
        assert_eq!(
            l.exec_error(TAG_EXEC, libc::EACCES),
            format!(
                "/no/such-tool: {}",
                std::io::Error::from_raw_os_error(libc::EACCES)
            )
        );
        l.program = None;
        assert_eq!(
            l.exec_error(TAG_EXEC, libc::ENOENT),
            "command not found: /no/such-tool"
        );
    }
}
