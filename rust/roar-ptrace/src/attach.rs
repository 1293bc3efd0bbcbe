//! Attach mode: trace a process that is already running, from now until
//! [`Detacher::detach`], including the threads it creates and every
//! process it starts meanwhile (see README.md, "Attach mode").
//!
//! A seccomp filter cannot be added to a running process, so the tracer
//! stops the tree at the entry and exit of *every* syscall
//! (`PTRACE_SYSCALL`) and decodes the ones of interest with the same
//! decoder as the spawn mode ([`Mode::Syscall`]). ptrace cannot trace the
//! caller's own thread group: the tracer lives in another process
//! (`roar.tracing.attach_helper` for Python).
//!
//! Seizing: every thread in `/proc/<pid>/task` gets `PTRACE_SEIZE` (with
//! the fork/clone/exec options, so threads and processes created by a
//! seized thread are attached by the kernel) and `PTRACE_INTERRUPT`; the
//! directory is re-read until a pass finds no new thread (a thread created
//! by a thread not yet seized shows up in the next pass). `on_attached`
//! runs once every seized thread has stopped once and been resumed under
//! syscall tracing. Detaching interrupts every tracee, waits for each to
//! stop (a syscall already entered is finished first when it returns),
//! and `PTRACE_DETACH`es it — threads and processes attached meanwhile
//! too — so nothing is left stopped or traced; a group-stopped tracee
//! stays in its group-stop.
//!
//! The tracer thread sleeps in `waitpid`; a detach request from another
//! thread wakes it with `SIGURG` (a no-op handler without `SA_RESTART`),
//! repeated every few ms until the tracer is done, so a request that
//! arrives just before `waitpid` is never lost.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use roar_trace_format::{now_ns, Collector, Summary};

use crate::tracer::{Mode, Tracer, ATTACH_OPTIONS};
use crate::wait::Waiter;
use crate::Error;

const WAKE_SIGNAL: i32 = libc::SIGURG;
const TICK: Duration = Duration::from_millis(5);
/// How long a `PTRACE_SEIZE` refused with EPERM is retried: under Yama
/// `ptrace_scope=1` the target allows its tracer with
/// `prctl(PR_SET_PTRACER)` only once it knows the tracer's pid.
const EPERM_RETRY: Duration = Duration::from_secs(1);
/// Passes over `/proc/<pid>/task` before giving up on a process that keeps
/// creating threads faster than they can be seized.
const MAX_PASSES: usize = 1000;

struct Shared {
    detach: AtomicBool,
    attached: AtomicBool,
    finished: AtomicBool,
    /// (our pid, the tracer thread's tid), for `tgkill`.
    tracer: (i32, i32),
}

impl Shared {
    fn poke(&self) {
        // SAFETY: tgkill to our own tracer thread; the signal has a no-op
        // handler installed by `WakeHandler` for as long as it can come.
        unsafe { libc::syscall(libc::SYS_tgkill, self.tracer.0, self.tracer.1, WAKE_SIGNAL) };
    }
}

/// Ends an attached trace from any thread: [`attach`] then detaches
/// everything and returns the summary.
#[derive(Clone)]
pub struct Detacher {
    shared: Arc<Shared>,
}

impl Detacher {
    /// Ask the tracer to detach; returns at once.
    pub fn detach(&self) {
        self.shared.detach.store(true, Ordering::SeqCst);
        if !self.shared.finished.load(Ordering::SeqCst) {
            self.shared.poke();
        }
    }
}

extern "C" fn wake(_: libc::c_int) {}

/// The no-op `SIGURG` handler (no `SA_RESTART`: it interrupts `waitpid`),
/// restored to the previous disposition when dropped.
struct WakeHandler {
    old: libc::sigaction,
}

impl WakeHandler {
    fn install() -> std::io::Result<Self> {
        // SAFETY: sigaction with zero-initialised structs and a handler
        // that does nothing (async-signal-safe); then unblocking the signal
        // for this thread.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = wake as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = 0;
            libc::sigemptyset(&mut sa.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(WAKE_SIGNAL, &sa, &mut old) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, WAKE_SIGNAL);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            Ok(WakeHandler { old })
        }
    }
}

impl Drop for WakeHandler {
    fn drop(&mut self) {
        // SAFETY: restoring the disposition saved by `install`.
        unsafe { libc::sigaction(WAKE_SIGNAL, &self.old, std::ptr::null_mut()) };
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn ptrace_op(req: libc::c_uint, tid: i32, data: usize) -> Result<(), i32> {
    // SAFETY: a ptrace request without pointers (data is flags or 0).
    let r = unsafe {
        libc::ptrace(
            req,
            tid,
            std::ptr::null_mut::<libc::c_void>(),
            data as *mut libc::c_void,
        )
    };
    if r == -1 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// The threads of process `pid` (`None`: no such process).
fn tasks(pid: i32) -> Option<Vec<i32>> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    Some(
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
    )
}

/// A field of `/proc/<tid>/status`.
fn status_field(tid: i32, key: &str) -> Option<i32> {
    let s = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Gone, or a zombie: it will never stop again, so nothing waits for it.
fn vanished(tid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{tid}/stat")) else {
        return true;
    };
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].trim_start().chars().next());
    matches!(state, None | Some('Z' | 'X' | 'x'))
}

fn attach_error(pid: i32, errno: i32, detail: impl Into<String>) -> Error {
    Error::Attach {
        pid,
        errno,
        detail: detail.into(),
    }
}

/// Seize one thread; `Ok(false)` when it is gone.
fn seize(pid: i32, tid: i32, me: i32, first: bool) -> Result<bool, Error> {
    let started = Instant::now();
    loop {
        match ptrace_op(libc::PTRACE_SEIZE, tid, ATTACH_OPTIONS as usize) {
            Ok(()) => {
                // ESRCH here: it exited meanwhile; its exit is reported.
                let _ = ptrace_op(libc::PTRACE_INTERRUPT, tid, 0);
                return Ok(true);
            }
            Err(libc::ESRCH) => return Ok(false),
            Err(libc::EPERM) => match status_field(tid, "TracerPid:") {
                // Attached already by the kernel (a thread created by a
                // thread seized a moment ago).
                Some(t) if t == me => return Ok(true),
                None => return Ok(false),
                Some(0) if first && started.elapsed() < EPERM_RETRY => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Some(0) => {
                    return Err(attach_error(
                        pid,
                        libc::EPERM,
                        "ptrace is not permitted (kernel.yama.ptrace_scope, a container's seccomp profile, or another user's process); a process can allow its tracer with prctl(PR_SET_PTRACER)",
                    ))
                }
                Some(t) => {
                    return Err(attach_error(
                        pid,
                        libc::EPERM,
                        format!("it is already traced by process {t} (a debugger, or roar tracing it with ptrace from the start)"),
                    ))
                }
            },
            Err(e) => {
                return Err(attach_error(
                    pid,
                    e,
                    format!("PTRACE_SEIZE failed: {}", std::io::Error::from_raw_os_error(e)),
                ))
            }
        }
    }
}

/// Trace the running process `pid` from the calling thread (which becomes
/// the tracer) until [`Detacher::detach`] is called, then detach from every
/// tracee and return the access summary of what the tree did meanwhile.
/// `on_attached` runs on this thread once every thread of `pid` is traced.
/// `pid` must not be in the caller's own thread group.
pub fn attach(pid: i32, on_attached: impl FnOnce(Detacher)) -> Result<Summary, Error> {
    // SAFETY: getpid/gettid have no preconditions.
    let (me, tracer_tid) = unsafe { (libc::getpid(), libc::gettid()) };
    if pid <= 0 {
        return Err(attach_error(pid, libc::ESRCH, "not a process id"));
    }
    let Some(first_tasks) = tasks(pid) else {
        return Err(attach_error(pid, libc::ESRCH, "no such process"));
    };
    if status_field(pid, "Tgid:") == Some(me) {
        return Err(attach_error(
            pid,
            libc::EPERM,
            "a process cannot ptrace its own threads; run the tracer in another process",
        ));
    }
    if first_tasks.is_empty() {
        return Err(attach_error(pid, libc::ESRCH, "the process has exited"));
    }
    let start_ns = now_ns();
    let _latency = crate::latency::LatencyRequest::acquire();
    let _wake = WakeHandler::install().map_err(Error::Io)?;
    let shared = Arc::new(Shared {
        detach: AtomicBool::new(false),
        attached: AtomicBool::new(false),
        finished: AtomicBool::new(false),
        tracer: (me, tracer_tid),
    });
    let ticker = {
        let sh = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("roar-ptrace-tick".into())
            .spawn(move || {
                // Wakes the tracer while it waits for first stops or detaches.
                while !sh.finished.load(Ordering::SeqCst) {
                    std::thread::sleep(TICK);
                    if sh.finished.load(Ordering::SeqCst) {
                        break;
                    }
                    if sh.detach.load(Ordering::SeqCst) || !sh.attached.load(Ordering::SeqCst) {
                        sh.poke();
                    }
                }
            })
            .map_err(Error::Io)?
    };
    let collector = Collector::new("ptrace");
    collector.attached_root(pid);
    let mut t = Tracer::new(Mode::Syscall, pid, Arc::clone(&collector));
    let seized = seize_all(&mut t, pid, me);
    let result = match seized {
        Ok(first) => trace(&mut t, &shared, first, on_attached),
        Err(e) => {
            shared.detach.store(true, Ordering::SeqCst);
            let _ = trace(&mut t, &shared, HashSet::new(), |_| {});
            Err(e)
        }
    };
    shared.finished.store(true, Ordering::SeqCst);
    let _ = ticker.join();
    collect_exits(&mut t);
    result?;
    Ok(collector.finish_attached(pid, start_ns, t.stops))
}

/// Seize every thread of `pid`, re-reading its task list until stable.
fn seize_all(t: &mut Tracer, pid: i32, me: i32) -> Result<HashSet<i32>, Error> {
    let mut seized = HashSet::new();
    for _ in 0..MAX_PASSES {
        let Some(now) = tasks(pid) else {
            return Err(attach_error(pid, libc::ESRCH, "the process has exited"));
        };
        let new: Vec<i32> = now.into_iter().filter(|x| !seized.contains(x)).collect();
        if new.is_empty() {
            if seized.is_empty() {
                return Err(attach_error(pid, libc::ESRCH, "the process has exited"));
            }
            return Ok(seized);
        }
        for tid in new {
            if seize(pid, tid, me, seized.is_empty())? {
                seized.insert(tid);
                t.seized(tid, pid);
            }
        }
    }
    Err(attach_error(
        pid,
        libc::EAGAIN,
        "its threads kept changing while they were being attached",
    ))
}

/// The attached loop: report `on_attached` once every thread in `first`
/// has stopped once, trace until a detach is requested, then detach all.
fn trace(
    t: &mut Tracer,
    shared: &Arc<Shared>,
    mut first: HashSet<i32>,
    on_attached: impl FnOnce(Detacher),
) -> Result<(), Error> {
    let mut on_attached = Some(on_attached);
    let mut waiter = Waiter::new();
    loop {
        if first.is_empty() {
            if let Some(f) = on_attached.take() {
                shared.attached.store(true, Ordering::SeqCst);
                f(Detacher {
                    shared: Arc::clone(shared),
                });
            }
        }
        if shared.detach.load(Ordering::SeqCst) && !t.detaching {
            t.detaching = true;
            interrupt_all(t);
        }
        if t.detaching && t.threads.is_empty() {
            return Ok(());
        }
        let mut status = 0;
        let tid = waiter.wait(&mut status);
        if tid == -1 {
            if errno() == libc::EINTR {
                if t.detaching {
                    interrupt_all(t);
                }
                first.retain(|x| !vanished(*x));
                continue;
            }
            // ECHILD: every tracee has exited.
            t.threads.clear();
            if on_attached.is_some() && !t.detaching {
                return Err(attach_error(
                    t.root,
                    libc::ESRCH,
                    "the process exited while being attached",
                ));
            }
            while !shared.detach.load(Ordering::SeqCst) {
                std::thread::sleep(TICK);
            }
            return Ok(());
        }
        first.remove(&tid);
        t.handle(tid, status);
        first.retain(|x| t.threads.contains_key(x));
    }
}

/// Detaching: make every tracee stop (again) so it can be detached; drop
/// those that will never stop (gone, zombies).
fn interrupt_all(t: &mut Tracer) {
    t.threads.retain(|tid, _| {
        !vanished(*tid) && ptrace_op(libc::PTRACE_INTERRUPT, *tid, 0) != Err(libc::ESRCH)
    });
}

/// Collect the exit reports still queued for this tracer thread (tracees
/// that exited while detaching, pruned as zombies): their exits are
/// recorded, and their real parents can then reap them.
fn collect_exits(t: &mut Tracer) {
    t.detaching = true;
    loop {
        let mut st = 0;
        // SAFETY: non-blocking waitpid for this thread's tracees only.
        let tid = unsafe {
            libc::waitpid(
                -1,
                &mut st,
                libc::__WALL | libc::__WNOTHREAD | libc::WNOHANG,
            )
        };
        if tid <= 0 {
            return;
        }
        if libc::WIFEXITED(st) || libc::WIFSIGNALED(st) {
            t.handle(tid, st);
        }
    }
}
