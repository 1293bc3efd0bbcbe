//! The tracing loop. Runs on its own thread, which forks the child: ptrace
//! binds tracees to the tracer *thread*, and waitpid uses `__WNOTHREAD` so
//! the host's other children (e.g. `git` run by Python's main thread) are
//! never reaped here.
//!
//! Two stop modes share one decoder ([`Tracer::entry`] at a syscall's
//! entry, [`Tracer::finish`] at its exit): [`Mode::Seccomp`] (spawn: the
//! filter stops only the syscalls of interest, `PTRACE_CONT` otherwise) and
//! [`Mode::Syscall`] (attach, `attach.rs`: no filter can be added to a
//! running process, so every syscall stops at entry and exit with
//! `PTRACE_SYSCALL`, and the syscall number is looked up in the filter's
//! table with [`Sys::from_syscall`]).

use std::collections::HashMap;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

use roar_trace_format::launch::{read_status, ExecPtrs};
use roar_trace_format::{now_ns, Collector, Event, OpenFlags, RawPath, RunInfo};

use crate::child::{self, Prepared};
use crate::filter::Sys;
use crate::regs::{Regs, SyscallInfo};
use crate::wait::Waiter;
use crate::{mem, resolve, Error};

const OPTIONS: libc::c_int = libc::PTRACE_O_TRACESYSGOOD
    | libc::PTRACE_O_TRACEFORK
    | libc::PTRACE_O_TRACEVFORK
    | libc::PTRACE_O_TRACECLONE
    | libc::PTRACE_O_TRACEEXEC
    | libc::PTRACE_O_TRACESECCOMP
    | libc::PTRACE_O_EXITKILL;

/// Attach mode: no seccomp, and no `EXITKILL` (a tracer that ends must
/// leave the attached process running).
pub const ATTACH_OPTIONS: libc::c_int = libc::PTRACE_O_TRACESYSGOOD
    | libc::PTRACE_O_TRACEFORK
    | libc::PTRACE_O_TRACEVFORK
    | libc::PTRACE_O_TRACECLONE
    | libc::PTRACE_O_TRACEEXEC;

/// The warning for a run that set an io_uring up (the eBPF backend's words).
pub const IO_URING_WARNING: &str = "io_uring_setup was called: file accesses made through io_uring are invisible to the ptrace tracer";

/// How the tracees stop (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Spawned under the seccomp filter (`PTRACE_TRACEME`).
    Seccomp,
    /// Attached (`PTRACE_SEIZE`): every syscall stops, `PTRACE_SYSCALL`.
    Syscall,
}

/// Work left for the syscall-exit stop, decided at the entry stop.
enum Pending {
    Open {
        hint: Option<RawPath>,
        flags: OpenFlags,
        existed: Option<bool>,
        mtime: Option<i64>,
    },
    Rename {
        from: RawPath,
        to: RawPath,
        to_existed: bool,
        exchange: bool,
    },
    Unlink(RawPath),
    Rmdir(RawPath),
    Mkdir(RawPath),
    Truncate(RawPath),
    Link(RawPath),
    Symlink(RawPath),
    Copy(Option<RawPath>, Option<RawPath>),
    /// io_uring_setup: it runs (denying it would change what the program
    /// does); a ring that was set up is reported, since the file accesses
    /// made through it are invisible to the tracer.
    IoUringSetup,
}

enum Action {
    /// Resume to the syscall-exit stop, then finish `Pending`.
    Exit(Pending),
    /// An execve: remember the path for PTRACE_EVENT_EXEC.
    Exec(RawPath),
    Nothing,
}

#[derive(Default)]
pub(crate) struct Thread {
    pub(crate) tgid: i32,
    /// Waiting for the SIGSTOP every auto-attached tracee starts with
    /// (seccomp mode; a seized tracee starts with `PTRACE_EVENT_STOP`).
    awaiting_first_stop: bool,
    pending: Option<Pending>,
}

pub(crate) struct Tracer {
    mode: Mode,
    pub(crate) root: i32,
    pub(crate) summ: Arc<Collector>,
    pub(crate) threads: HashMap<i32, Thread>,
    exec_path: HashMap<i32, RawPath>,
    pub(crate) stops: u64,
    root_status: Option<(i32, Option<i32>)>,
    /// Attach mode, detaching: every stop now ends in `PTRACE_DETACH`.
    pub(crate) detaching: bool,
}

fn ptrace_resume(req: libc::c_uint, tid: i32, sig: i32) {
    // SAFETY: resuming a tracee we own; a vanished tid just yields ESRCH.
    unsafe {
        libc::ptrace(
            req,
            tid,
            std::ptr::null_mut::<libc::c_void>(),
            sig as usize as *mut libc::c_void,
        );
    }
}

fn event_msg(tid: i32) -> Option<u64> {
    let mut msg: libc::c_ulong = 0;
    // SAFETY: GETEVENTMSG writes one unsigned long to the pointer.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_GETEVENTMSG,
            tid,
            std::ptr::null_mut::<libc::c_void>(),
            &mut msg as *mut libc::c_ulong,
        )
    };
    (r != -1).then_some(msg as u64)
}

fn io_err(code: i32) -> std::io::Error {
    std::io::Error::from_raw_os_error(code)
}

/// Fork the child, wait for its first stop, set options; then trace until
/// the whole tree has exited and publish the summary.
pub fn run(
    p: Prepared,
    tx: SyncSender<Result<i32, Error>>,
    sink: Arc<Collector>,
    long_lived: bool,
) {
    let start_ns = now_ns();
    // Released when this function returns, i.e. when the trace ends. A
    // long-lived trace (a notebook kernel, idle most of the time) holds it
    // only while an interval is open instead: see `lib.rs`.
    let _latency = (!long_lived).then(crate::latency::LatencyRequest::acquire);
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two fds into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } == -1 {
        let _ = tx.send(Err(Error::Io(std::io::Error::last_os_error())));
        return;
    }
    let [rfd, wfd] = fds;
    let ptrs = ExecPtrs::new(&p.launch);
    // SAFETY: fork; the child only calls exec_child (raw syscalls).
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: we are the freshly forked child.
        unsafe { child::exec_child(&p, &ptrs, wfd) };
    }
    // SAFETY: closing our copy of the write end.
    unsafe { libc::close(wfd) };
    if pid < 0 {
        let _ = tx.send(Err(Error::Io(std::io::Error::last_os_error())));
        // SAFETY: closing our read end.
        unsafe { libc::close(rfd) };
        return;
    }
    if let Err(e) = first_stop(pid, rfd) {
        let _ = tx.send(Err(e));
        // SAFETY: closing our read end.
        unsafe { libc::close(rfd) };
        return;
    }
    ptrace_resume(libc::PTRACE_CONT, pid, 0);
    let _ = tx.send(Ok(pid));

    let mut t = Tracer::new(Mode::Seccomp, pid, sink);
    t.stops = 1;
    t.threads.insert(
        pid,
        Thread {
            tgid: pid,
            ..Default::default()
        },
    );
    t.summ.push(Event::ProcessStart {
        pid,
        // SAFETY: getpid has no preconditions.
        ppid: unsafe { libc::getpid() },
    });
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.trace()));
    let mut exec_error = None;
    if let Some((tag, e)) = read_status(rfd) {
        exec_error = Some(match tag {
            child::TAG_SECCOMP => format!("cannot install the seccomp filter: {}", io_err(e)),
            _ => p.launch.exec_error(tag, e),
        });
    }
    // SAFETY: closing our read end.
    unsafe { libc::close(rfd) };
    if caught.is_err() {
        t.summ
            .warn("internal error in the ptrace tracer; the summary may be incomplete");
    }
    let unknown = t.root_status.is_none() && exec_error.is_none();
    let (exit_code, exit_signal) = t.root_status.unwrap_or((127, None));
    t.summ.finish(RunInfo {
        root_pid: pid,
        exit_code,
        exit_signal,
        exit_unknown: unknown,
        exec_error,
        start_ns,
        end_ns: now_ns(),
        stops: t.stops,
        incomplete: None,
    });
}

fn first_stop(pid: i32, rfd: i32) -> Result<(), Error> {
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        break;
    }
    if libc::WIFSTOPPED(status) && libc::WSTOPSIG(status) == libc::SIGSTOP {
        // SAFETY: setting options on our stopped tracee.
        let r = unsafe {
            libc::ptrace(
                libc::PTRACE_SETOPTIONS,
                pid,
                std::ptr::null_mut::<libc::c_void>(),
                OPTIONS as usize as *mut libc::c_void,
            )
        };
        if r == -1 {
            let e = std::io::Error::last_os_error();
            // SAFETY: killing and reaping our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, libc::__WALL);
            }
            return Err(Error::PtraceNotPermitted(e));
        }
        return Ok(());
    }
    match read_status(rfd) {
        Some((child::TAG_PTRACE, e)) => Err(Error::PtraceNotPermitted(io_err(e))),
        _ => Err(Error::Io(std::io::Error::other(format!(
            "the traced child ended before it started (wait status {status:#x})"
        )))),
    }
}

impl Tracer {
    pub(crate) fn new(mode: Mode, root: i32, summ: Arc<Collector>) -> Self {
        Tracer {
            mode,
            root,
            summ,
            threads: HashMap::new(),
            exec_path: HashMap::new(),
            stops: 0,
            root_status: None,
            detaching: false,
        }
    }

    /// A thread seized by attach mode (its process was announced already).
    pub(crate) fn seized(&mut self, tid: i32, tgid: i32) {
        self.threads.entry(tid).or_insert(Thread {
            tgid,
            ..Default::default()
        });
    }

    fn trace(&mut self) {
        let mut waiter = Waiter::new();
        loop {
            let mut status = 0;
            let tid = waiter.wait(&mut status);
            if tid == -1 {
                match std::io::Error::last_os_error().raw_os_error() {
                    Some(libc::EINTR) => continue,
                    _ => return, // ECHILD: the whole tree is gone.
                }
            }
            self.handle(tid, status);
        }
    }

    /// One report from waitpid.
    pub(crate) fn handle(&mut self, tid: i32, status: i32) {
        self.stops += 1;
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            self.exited(tid, status);
        } else if libc::WIFSTOPPED(status) {
            self.stopped(tid, status);
        }
    }

    /// Let a stopped tracee go on: to its next filtered syscall (seccomp
    /// mode), its next syscall stop (attach mode), or out of tracing when
    /// detaching. `sig` is delivered.
    fn resume(&mut self, tid: i32, sig: i32) {
        if self.detaching {
            ptrace_resume(libc::PTRACE_DETACH, tid, sig);
            self.threads.remove(&tid);
            return;
        }
        let req = match self.mode {
            Mode::Seccomp => libc::PTRACE_CONT,
            Mode::Syscall => libc::PTRACE_SYSCALL,
        };
        ptrace_resume(req, tid, sig);
    }

    fn exited(&mut self, tid: i32, status: i32) {
        let th = self.threads.remove(&tid);
        // Only called for an ended thread (WIFEXITED or WIFSIGNALED).
        let (code, sig) = roar_trace_format::exit_status(status).unwrap_or((127, None));
        if th.map(|t| t.tgid == tid).unwrap_or(true) {
            self.summ.push(Event::ProcessExit {
                pid: tid,
                exit_code: sig.is_none().then_some(code),
                signal: sig,
            });
        }
        if tid == self.root {
            self.root_status = Some((code, sig));
            self.summ.set_root_exit(code, sig);
        }
    }

    /// First sight of a tid (from its first stop or its creator's event).
    fn register(&mut self, tid: i32, awaiting_first_stop: bool) {
        let (tgid, ppid) = resolve::tgid_ppid(tid).unwrap_or((tid, 0));
        if tgid == tid {
            self.summ.push(Event::ProcessStart { pid: tid, ppid });
        }
        self.threads.insert(
            tid,
            Thread {
                tgid,
                awaiting_first_stop,
                pending: None,
            },
        );
    }

    fn stopped(&mut self, tid: i32, status: i32) {
        let sig = libc::WSTOPSIG(status);
        let event = (status >> 16) & 0xffff;
        if self.mode == Mode::Syscall && !self.threads.contains_key(&tid) {
            // An auto-attached tracee's first stop, before its creator's event.
            self.register(tid, false);
        }
        if sig == libc::SIGTRAP | 0x80 {
            match self.mode {
                Mode::Seccomp => self.seccomp_exit_stop(tid),
                Mode::Syscall => self.syscall_stop(tid),
            }
            return self.resume(tid, 0);
        }
        if event == libc::PTRACE_EVENT_STOP {
            // Seized tracees only: an interrupt or a new tracee's first stop
            // (SIGTRAP), else a group-stop, which stays stopped (LISTEN)
            // until SIGCONT; detaching leaves it in the group-stop.
            if sig == libc::SIGTRAP || self.detaching {
                return self.resume(tid, 0);
            }
            // SAFETY: PTRACE_LISTEN on our tracee in a group-stop.
            unsafe {
                libc::ptrace(
                    libc::PTRACE_LISTEN,
                    tid,
                    std::ptr::null_mut::<libc::c_void>(),
                    std::ptr::null_mut::<libc::c_void>(),
                )
            };
            return;
        }
        if sig == libc::SIGTRAP && event != 0 {
            return self.ptrace_event(tid, event);
        }
        if self.mode == Mode::Syscall {
            // A signal-delivery stop (seized group-stops are EVENT_STOP).
            return self.resume(tid, sig);
        }
        if sig == libc::SIGSTOP {
            match self.threads.get_mut(&tid) {
                None => {
                    // A new tracee's first stop, before its creator's event.
                    self.register(tid, false);
                    return self.resume(tid, 0);
                }
                Some(th) if th.awaiting_first_stop => {
                    th.awaiting_first_stop = false;
                    return self.resume(tid, 0);
                }
                _ => {}
            }
        }
        if matches!(
            sig,
            libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
        ) {
            // Group-stop (GETSIGINFO fails with EINVAL): resume rather than
            // leave the job stopped forever (no PTRACE_LISTEN under TRACEME).
            // SAFETY: siginfo_t is plain data, written by the kernel.
            let mut si: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: GETSIGINFO writes one siginfo_t to the pointer.
            let r = unsafe {
                libc::ptrace(
                    libc::PTRACE_GETSIGINFO,
                    tid,
                    std::ptr::null_mut::<libc::c_void>(),
                    &mut si as *mut libc::siginfo_t,
                )
            };
            if r == -1 {
                return self.resume(tid, 0);
            }
        }
        // A signal-delivery stop: deliver it.
        self.resume(tid, sig);
    }

    /// What the entry decided: remember the work for the exit stop (true:
    /// the caller must resume to it) or the exec path.
    fn apply(&mut self, tid: i32, action: Option<Action>) -> bool {
        match action {
            Some(Action::Exit(p)) => {
                if let Some(th) = self.threads.get_mut(&tid) {
                    th.pending = Some(p);
                }
                return true;
            }
            Some(Action::Exec(path)) => {
                self.exec_path.insert(tid, path);
            }
            Some(Action::Nothing) | None => {}
        }
        false
    }

    fn ptrace_event(&mut self, tid: i32, event: i32) {
        match event {
            libc::PTRACE_EVENT_SECCOMP => {
                let action = self.seccomp_stop(tid);
                if self.apply(tid, action) {
                    return ptrace_resume(libc::PTRACE_SYSCALL, tid, 0);
                }
            }
            libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE => {
                if let Some(new) = event_msg(tid) {
                    let new = new as i32;
                    if !self.threads.contains_key(&new) {
                        self.register(new, true);
                    }
                }
            }
            libc::PTRACE_EVENT_EXEC => self.exec_event(tid),
            _ => {}
        }
        self.resume(tid, 0);
    }

    fn exec_event(&mut self, tid: i32) {
        // The tid that called execve (differs when a non-leader thread
        // exec'd: it took over the leader's tid).
        let former = event_msg(tid).map(|m| m as i32).unwrap_or(tid);
        if former != tid {
            self.threads.remove(&former);
        }
        let path = self
            .exec_path
            .remove(&former)
            .or_else(|| self.exec_path.remove(&tid));
        if let Some(th) = self.threads.get_mut(&tid) {
            th.pending = None;
        }
        let exe = resolve::exe(tid);
        if let Some(path) = path.clone() {
            self.summ.push(Event::Exec { pid: tid, path });
        }
        if let Some(e) = &exe {
            if Some(e) != path.as_ref() {
                self.summ.push(Event::Exec {
                    pid: tid,
                    path: e.clone(),
                });
            }
        }
        self.summ.push(Event::ProcessExec {
            pid: tid,
            argv: resolve::cmdline(tid),
            exe,
        });
    }

    /// Seccomp mode: a filtered syscall's entry (the filter put its
    /// [`Sys`] code in the event message).
    fn seccomp_stop(&mut self, tid: i32) -> Option<Action> {
        let sys = Sys::from_data(event_msg(tid)? & 0xffff)?;
        let regs = Regs::get(tid).ok()?;
        self.entry(tid, sys, regs.args())
    }

    /// Seccomp mode: the exit stop a pending entry resumed to.
    fn seccomp_exit_stop(&mut self, tid: i32) {
        let Some(p) = self.threads.get_mut(&tid).and_then(|t| t.pending.take()) else {
            return;
        };
        if let Ok(regs) = Regs::get(tid) {
            self.finish(tid, p, regs.ret());
        }
    }

    /// Attach mode: every syscall's entry and exit stop.
    fn syscall_stop(&mut self, tid: i32) {
        let Some(info) = SyscallInfo::get(tid) else {
            return;
        };
        match info {
            SyscallInfo::Entry { arch, nr, args } => {
                if let Some(th) = self.threads.get_mut(&tid) {
                    th.pending = None; // an exit stop that never came (exec)
                }
                if self.detaching {
                    return; // the call runs after the detach
                }
                if let Some(sys) = Sys::from_syscall(arch, nr) {
                    let action = self.entry(tid, sys, args);
                    self.apply(tid, action);
                }
            }
            SyscallInfo::Exit { rval } => {
                if let Some(p) = self.threads.get_mut(&tid).and_then(|t| t.pending.take()) {
                    self.finish(tid, p, rval);
                }
            }
            SyscallInfo::Other => {}
        }
    }

    /// The decoder, shared by both modes: what a syscall of interest does,
    /// read at its entry (`a`: its six arguments).
    fn entry(&mut self, tid: i32, sys: Sys, a: [u64; 6]) -> Option<Action> {
        let s = |addr: u64| mem::read_cstr(tid, addr);
        let at = libc::AT_FDCWD as i64;
        let fd = |x: u64| x as i32 as i64;
        Some(match sys {
            Sys::Open => self.open_entry(tid, at, a[0], a[1] as i32, 0)?,
            Sys::Openat => self.open_entry(tid, fd(a[0]), a[1], a[2] as i32, 0)?,
            Sys::Openat2 => {
                // struct open_how { u64 flags; u64 mode; u64 resolve; }
                let flags = mem::read_u64(tid, a[2])? as i32;
                let resolve = mem::read_u64(tid, a[2].wrapping_add(16)).unwrap_or(u64::MAX);
                self.open_entry(tid, fd(a[0]), a[1], flags, resolve)?
            }
            Sys::Creat => self.open_entry(
                tid,
                at,
                a[0],
                libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC,
                0,
            )?,
            Sys::Execve => Action::Exec(resolve::followed(tid, at, &s(a[0])?)?),
            Sys::Execveat => {
                let path = s(a[1])?;
                let flags = a[4] as i32;
                if path.is_empty() && flags & libc::AT_EMPTY_PATH != 0 {
                    Action::Exec(resolve::fd_path(tid, fd(a[0]))?)
                } else {
                    Action::Exec(resolve::followed(tid, fd(a[0]), &path)?)
                }
            }
            Sys::Rename => self.rename_entry(tid, at, a[0], at, a[1], 0)?,
            Sys::Renameat => self.rename_entry(tid, fd(a[0]), a[1], fd(a[2]), a[3], 0)?,
            Sys::Renameat2 => {
                self.rename_entry(tid, fd(a[0]), a[1], fd(a[2]), a[3], a[4] as u32)?
            }
            Sys::Link => Action::Exit(Pending::Link(resolve::name(tid, at, &s(a[1])?)?)),
            Sys::Linkat => Action::Exit(Pending::Link(resolve::name(tid, fd(a[2]), &s(a[3])?)?)),
            Sys::Symlink => Action::Exit(Pending::Symlink(resolve::name(tid, at, &s(a[1])?)?)),
            Sys::Symlinkat => {
                Action::Exit(Pending::Symlink(resolve::name(tid, fd(a[1]), &s(a[2])?)?))
            }
            Sys::Unlink => self.removal_entry(tid, at, &s(a[0])?, false)?,
            Sys::Unlinkat => {
                let rmdir = a[2] as i32 & libc::AT_REMOVEDIR != 0;
                self.removal_entry(tid, fd(a[0]), &s(a[1])?, rmdir)?
            }
            Sys::Rmdir => self.removal_entry(tid, at, &s(a[0])?, true)?,
            Sys::Mkdir => Action::Exit(Pending::Mkdir(resolve::name(tid, at, &s(a[0])?)?)),
            Sys::Mkdirat => Action::Exit(Pending::Mkdir(resolve::name(tid, fd(a[0]), &s(a[1])?)?)),
            Sys::Truncate => {
                Action::Exit(Pending::Truncate(resolve::followed(tid, at, &s(a[0])?)?))
            }
            Sys::Ftruncate => Action::Exit(Pending::Truncate(resolve::fd_path(tid, fd(a[0]))?)),
            Sys::CopyFileRange => copy_entry(tid, fd(a[0]), fd(a[2])),
            Sys::Sendfile => copy_entry(tid, fd(a[1]), fd(a[0])),
            Sys::IoUringSetup => Action::Exit(Pending::IoUringSetup),
        })
    }

    fn pid_of(&self, tid: i32) -> i32 {
        self.threads.get(&tid).map(|t| t.tgid).unwrap_or(tid)
    }

    fn open_entry(
        &mut self,
        tid: i32,
        dirfd: i64,
        path_addr: u64,
        raw: i32,
        resolve_flags: u64,
    ) -> Option<Action> {
        let flags = OpenFlags::from_raw(raw);
        if flags.path_only || flags.tmpfile {
            return Some(Action::Nothing);
        }
        if !flags.write && !flags.create && !flags.truncate {
            return Some(self.read_open_entry(tid, dirfd, path_addr, raw, flags, resolve_flags));
        }
        let hint = resolve::lexical(tid, dirfd, &mem::read_cstr(tid, path_addr)?);
        let (existed, mtime) = match &hint {
            Some(h) => {
                let (e, m) = resolve::stat(h);
                (Some(e), m)
            }
            None => (None, None),
        };
        Some(Action::Exit(Pending::Open {
            hint,
            flags,
            existed,
            mtime,
        }))
    }

    /// A read-only open is decided at entry, with no exit stop: the tracer
    /// opens the same path with `O_PATH` through the tracee's cwd/dirfd
    /// (see [`resolve::probe`]). If that fails, so will the tracee's open
    /// (not a read: nothing is recorded). Race (README): a file removed
    /// between the two opens is recorded as read.
    fn read_open_entry(
        &mut self,
        tid: i32,
        dirfd: i64,
        path_addr: u64,
        raw: i32,
        flags: OpenFlags,
        resolve_flags: u64,
    ) -> Action {
        let exit = Action::Exit(Pending::Open {
            hint: None,
            flags,
            existed: None,
            mtime: None,
        });
        if resolve_flags != 0 {
            return exit; // openat2 RESOLVE_*: the tracee's lookup differs.
        }
        let Some(path) = mem::read_cstr(tid, path_addr) else {
            return exit;
        };
        let nofollow = raw & libc::O_NOFOLLOW != 0;
        let probed = match resolve::probe(tid, dirfd, &path, nofollow, flags.directory) {
            Ok(p) => p,
            Err(resolve::NoProbe::Fails) => return Action::Nothing,
            Err(resolve::NoProbe::Unsure) => return exit,
        };
        let Some(mode) = probed.mode() else {
            return exit;
        };
        match mode & libc::S_IFMT {
            // O_NOFOLLOW on a symlink: ELOOP. A socket: ENXIO.
            libc::S_IFLNK | libc::S_IFSOCK => return Action::Nothing,
            _ => {}
        }
        let pid = self.pid_of(tid);
        self.summ.push(Event::Open {
            pid,
            path: probed.path,
            flags,
            result: 0,
            existed_before: Some(true),
            mtime_ns_before: None,
            is_dir: mode & libc::S_IFMT == libc::S_IFDIR,
        });
        Action::Nothing
    }

    /// unlink/unlinkat/rmdir stop only at entry: the target is probed there
    /// and recorded as a delete when it exists with the right type. A call
    /// that still fails (ENOTEMPTY, EACCES, EBUSY…) leaves the path in
    /// place, and the Summarizer's finish drops a `delete` of a path that
    /// exists at the end.
    fn removal_entry(&mut self, tid: i32, dirfd: i64, path: &[u8], rmdir: bool) -> Option<Action> {
        let pid = self.pid_of(tid);
        Some(match resolve::removal(tid, dirfd, path, rmdir) {
            resolve::Removal::Target(path) => {
                self.summ.push(if rmdir {
                    Event::Rmdir { pid, path }
                } else {
                    Event::Unlink { pid, path }
                });
                Action::Nothing
            }
            resolve::Removal::Fails => Action::Nothing,
            resolve::Removal::Unsure => {
                let p = resolve::name(tid, dirfd, path)?;
                Action::Exit(if rmdir {
                    Pending::Rmdir(p)
                } else {
                    Pending::Unlink(p)
                })
            }
        })
    }

    fn rename_entry(
        &mut self,
        tid: i32,
        olddirfd: i64,
        old: u64,
        newdirfd: i64,
        new: u64,
        flags: u32,
    ) -> Option<Action> {
        let from = resolve::name(tid, olddirfd, &mem::read_cstr(tid, old)?)?;
        let to = resolve::name(tid, newdirfd, &mem::read_cstr(tid, new)?)?;
        let to_existed = resolve::exists_nofollow(&to);
        Some(Action::Exit(Pending::Rename {
            from,
            to,
            to_existed,
            exchange: flags & libc::RENAME_EXCHANGE != 0,
        }))
    }

    /// The decoder's second half, at the exit of a call whose entry left
    /// `p`; `ret` is the call's result (`-errno` on failure).
    fn finish(&mut self, tid: i32, p: Pending, ret: i64) {
        if ret < 0 {
            return; // Failed calls change nothing (and a failed open is not a read).
        }
        let pid = self.threads.get(&tid).map(|t| t.tgid).unwrap_or(tid);
        let ev = match p {
            Pending::IoUringSetup => return self.summ.warn(IO_URING_WARNING),
            Pending::Open {
                hint,
                flags,
                existed,
                mtime,
            } => {
                let path = match resolve::fd_path(tid, ret) {
                    Some(k) if !k.as_bytes().ends_with(b" (deleted)") => k,
                    Some(_) => match hint {
                        Some(h) => h,
                        None => return,
                    },
                    // A pipe, socket or anon inode reopened via /proc: no file.
                    None => return,
                };
                let is_dir = !flags.write && resolve::fd_is_dir(tid, ret);
                Event::Open {
                    pid,
                    path,
                    flags,
                    result: ret,
                    existed_before: existed,
                    mtime_ns_before: mtime,
                    is_dir,
                }
            }
            Pending::Rename {
                from,
                to,
                to_existed,
                exchange,
            } => Event::Rename {
                pid,
                from,
                to,
                to_existed_before: to_existed,
                exchange,
            },
            Pending::Unlink(path) => Event::Unlink { pid, path },
            Pending::Rmdir(path) => Event::Rmdir { pid, path },
            Pending::Mkdir(path) => Event::Mkdir { pid, path },
            Pending::Truncate(path) => Event::Truncate { pid, path },
            Pending::Link(to) => Event::Link { pid, to },
            Pending::Symlink(to) => Event::Symlink { pid, to },
            Pending::Copy(from, to) => Event::CopyRange { pid, from, to },
        };
        self.summ.push(ev);
    }
}

fn copy_entry(tid: i32, in_fd: i64, out_fd: i64) -> Action {
    let file = |fd| {
        if resolve::fd_is_file(tid, fd) {
            resolve::fd_path(tid, fd)
        } else {
            None
        }
    };
    match (file(in_fd), file(out_fd)) {
        (None, None) => Action::Nothing,
        (from, to) => Action::Exit(Pending::Copy(from, to)),
    }
}
