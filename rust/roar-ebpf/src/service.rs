//! The long-lived loader service: loads and attaches the BPF programs once,
//! then serves jobs over a Unix socket until idle (see README.md).
//!
//! Threads: the accept loop (this function's caller), one reader and one
//! writer per client connection, and the ring consumer, which alone reads
//! the ring buffer and routes each record to its job's writer.

use std::collections::HashMap as StdHashMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aya::maps::{HashMap, MapData, RingBuf};
use aya::programs::Program;
use aya::{Btf, Ebpf, EbpfLoader};
use roar_trace_format::SpawnError;

use crate::events::{Header, EV_DONE};
use crate::proto;

/// `struct roar_job` (bpf/roar_events.h).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
struct RoarJob {
    live: i64,
    drops: u64,
    kepoch: u64,
    done: u64,
}

// SAFETY: plain `repr(C)` integers, no padding.
unsafe impl aya::Pod for RoarJob {}

struct Maps {
    pids: HashMap<MapData, u32, u32>,
    jobs: HashMap<MapData, u32, RoarJob>,
    epochs: HashMap<MapData, u32, u32>,
}

/// What the ring consumer sends a job's writer.
enum Out {
    Events(Vec<u8>),
    Flushed(u64),
    /// Records dropped, the job's end (ns since the epoch).
    Done(u64, u64),
}

enum Cmd {
    Register(u32, Sender<Out>, Option<Keep>),
    Flush(u32, u64),
    /// Send what was recorded, then DONE, and stop tracing the job.
    Detach(u32),
    /// The client's connection closed: a recoverable job goes on traced
    /// (its records held for a claim), any other is cancelled.
    Gone(u32),
    /// The client has the job's summary safe: forget the records held.
    Bye(u32),
    Claim(ClaimReq),
}

/// Every record of a recoverable job (a `START` with a recovery token),
/// kept from its start until its client says `BYE`, so that a later client
/// can claim the job if this one dies.
struct Keep {
    token: String,
    uid: u32,
    root: i32,
    /// `u32` length + record, as in an `EVENTS` payload.
    records: Vec<u8>,
    /// Records not kept (over [`KEEP_MAX`]): a claim reports them dropped.
    overflow: u64,
}

/// At most this many bytes of records are kept per recoverable job.
const KEEP_MAX: usize = 256 << 20;

impl Keep {
    fn push(&mut self, rec: &[u8]) {
        if self.records.len() + rec.len() + 4 > KEEP_MAX {
            self.overflow += 1;
            return;
        }
        self.records
            .extend_from_slice(&(rec.len() as u32).to_ne_bytes());
        self.records.extend_from_slice(rec);
    }

    /// The kept records as `EVENTS` payloads (cut between records).
    fn frames(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let (mut start, mut at) = (0usize, 0usize);
        let b = &self.records;
        while at + 4 <= b.len() {
            let n = u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize;
            if at + 4 + n - start > proto::MAX_FRAME / 2 && at > start {
                out.push(b[start..at].to_vec());
                start = at;
            }
            at += 4 + n;
        }
        if start < b.len() {
            out.push(b[start..].to_vec());
        }
        out
    }
}

/// A recoverable job that has ended, its records held for its client's
/// `BYE` or a claim.
struct Held {
    job: u32,
    keep: Keep,
    drops: u64,
    end_ns: u64,
    since: Instant,
}

struct ClaimReq {
    token: String,
    uid: u32,
    mode: u8,
    reply: Sender<ClaimReply>,
}

enum ClaimReply {
    Unknown,
    NotYours,
    Pending,
    Forgotten,
    /// Job id, root pid, and the stream of what it recorded.
    Stream(u32, i32, Receiver<Out>),
}

/// `live` of an attached job: its tasks were counted by no fork, so the
/// count never reaches 0 and the job ends only with DETACH or the client.
const ATTACHED_LIVE: i64 = 1 << 40;
/// Passes over `/proc/<pid>/task` before giving up on a process that keeps
/// creating threads.
const MAX_PASSES: usize = 1000;

struct Shared {
    maps: Mutex<Maps>,
    cmds: Mutex<Sender<Cmd>>,
    wake: i32, // eventfd
    next_job: AtomicU32,
    active: AtomicU32,
    /// Open client connections (a job's, or one that has not yet asked).
    conns: AtomicU32,
    /// Ended recoverable jobs whose records are held (see [`Held`]).
    held: AtomicU32,
    last_active: Mutex<Instant>,
    stop: AtomicBool,
}

impl Shared {
    fn maps(&self) -> MutexGuard<'_, Maps> {
        self.maps.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send(&self, c: Cmd) {
        let _ = self.cmds.lock().unwrap_or_else(|p| p.into_inner()).send(c);
        let one = 1u64;
        // SAFETY: writing 8 bytes to our eventfd.
        unsafe { libc::write(self.wake, &one as *const u64 as *const libc::c_void, 8) };
    }
}

fn unavailable(m: impl Into<String>) -> SpawnError {
    SpawnError::Unavailable(m.into())
}

/// Mount tracefs when it is missing (syscall tracepoints need it to be
/// found by id) and we may.
fn ensure_tracefs() {
    for p in [
        "/sys/kernel/tracing/events",
        "/sys/kernel/debug/tracing/events",
    ] {
        if Path::new(p).is_dir() {
            return;
        }
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    // SAFETY: mount(2) with NUL-terminated literals.
    unsafe {
        libc::mount(
            c"nodev".as_ptr(),
            c"/sys/kernel/tracing".as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        );
    }
}

/// Older kernels charge BPF maps to RLIMIT_MEMLOCK.
fn raise_memlock() {
    let r = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit with a valid struct.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &r) };
}

/// The syscall tracepoint of a program named `exit_X`/`enter_X`, or the
/// sched event of `on_X`.
fn tracepoint_of(prog: &str) -> Option<(&'static str, String)> {
    if let Some(s) = prog.strip_prefix("exit_") {
        return Some(("syscalls", format!("sys_exit_{s}")));
    }
    if let Some(s) = prog.strip_prefix("enter_") {
        return Some(("syscalls", format!("sys_enter_{s}")));
    }
    prog.strip_prefix("on_")
        .map(|s| ("sched", format!("sched_process_{s}")))
}

/// The environment variable overriding the ring buffer's size (bytes, a
/// power of two ≥ 4096; default 16 MiB). Small rings are for tests.
pub const RING_ENV: &str = "ROAR_EBPF_RING_BYTES";

fn ring_bytes() -> Option<u32> {
    let n: u32 = std::env::var(RING_ENV).ok()?.parse().ok()?;
    (n >= 4096 && n.is_power_of_two()).then_some(n)
}

struct Loaded {
    _ebpf: Ebpf,
    maps: Maps,
    ring: RingBuf<MapData>,
}

fn load() -> Result<Loaded, String> {
    ensure_tracefs();
    raise_memlock();
    let obj = crate::object::OBJECT;
    let mut loader = EbpfLoader::new();
    if let Some(n) = ring_bytes() {
        loader.set_max_entries("events", n);
    }
    let mut ebpf = loader
        .load(obj)
        .map_err(|e| format!("loading the BPF object failed: {}", error_chain(&e)))?;
    let btf = Btf::from_sys_fs()
        .map_err(|e| format!("the kernel's BTF (/sys/kernel/btf/vmlinux) is not readable: {e}"))?;
    for (name, prog) in ebpf.programs_mut() {
        let Some((cat, tp)) = tracepoint_of(name) else {
            continue;
        };
        match prog {
            Program::TracePoint(p) => {
                p.load()
                    .map_err(|e| format!("loading {name} failed: {}", error_chain(&e)))?;
                p.attach(cat, &tp).map_err(|e| {
                    format!("attaching {name} to {cat}/{tp} failed: {}", error_chain(&e))
                })?;
            }
            Program::BtfTracePoint(p) => {
                p.load(&tp, &btf)
                    .map_err(|e| format!("loading {name} failed: {}", error_chain(&e)))?;
                p.attach()
                    .map_err(|e| format!("attaching {name} to {tp} failed: {}", error_chain(&e)))?;
            }
            _ => {}
        }
    }
    let take = |ebpf: &mut Ebpf, n: &str| {
        ebpf.take_map(n)
            .ok_or_else(|| format!("the BPF object has no map {n}"))
    };
    let pids = HashMap::try_from(take(&mut ebpf, "pids")?).map_err(|e| e.to_string())?;
    let jobs = HashMap::try_from(take(&mut ebpf, "jobs")?).map_err(|e| e.to_string())?;
    let epochs = HashMap::try_from(take(&mut ebpf, "epochs")?).map_err(|e| e.to_string())?;
    let ring = RingBuf::try_from(take(&mut ebpf, "events")?).map_err(|e| e.to_string())?;
    Ok(Loaded {
        _ebpf: ebpf,
        maps: Maps { pids, jobs, epochs },
        ring,
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// Bind the socket: a stale socket (nobody listening) is replaced; a live
/// one means another service runs (one that took no lock: an old build's).
fn bind(socket: &Path) -> Result<UnixListener, SpawnError> {
    if socket.exists() {
        if UnixStream::connect(socket).is_ok() {
            return Err(in_use(socket, None));
        }
        let _ = std::fs::remove_file(socket);
    }
    let l = UnixListener::bind(socket)?;
    // Every user may connect; the service checks each peer (SO_PEERCRED).
    let _ = std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o666));
    Ok(l)
}

fn in_use(socket: &Path, pid: Option<i32>) -> SpawnError {
    let who = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
    SpawnError::Io(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        format!(
            "another roar eBPF service{who} is listening on {}",
            socket.display()
        ),
    ))
}

/// How long a second service waits for the lock while its holder starts
/// (it then serves: the second one leaves) or exits (then it takes over).
const CLAIM_WAIT: Duration = Duration::from_secs(60);

/// This service's hold on its socket: the lock on `<socket>.lock` and the
/// files it wrote. Dropping it removes what is still ours (the socket if it
/// is the one we bound, `.pid` and `.version`), then unlocks. The lock file
/// itself stays (removing it would let two holders lock two files).
struct Claim {
    lock: Option<File>,
    socket: PathBuf,
    pid_file: PathBuf,
    version_file: PathBuf,
    published: bool,
    bound: Option<(u64, u64)>,
}

impl Claim {
    fn take(socket: &Path) -> Result<Claim, SpawnError> {
        if let Some(dir) = socket.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                std::fs::create_dir_all(dir)?;
                let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
            }
        }
        let lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC)
            .open(socket.with_extension("lock"))?;
        let t = Instant::now();
        loop {
            // SAFETY: flock on a file we own.
            if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(SpawnError::Io(e));
            }
            // The holder is starting, serving or exiting: serving = we leave.
            if let Ok(s) = UnixStream::connect(socket) {
                return Err(in_use(socket, peer_cred(&s).map(|c| c.pid)));
            }
            if t.elapsed() > CLAIM_WAIT {
                return Err(SpawnError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "another roar eBPF service holds {} but does not listen on {}",
                        socket.with_extension("lock").display(),
                        socket.display()
                    ),
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Claim {
            lock: Some(lock),
            socket: socket.to_path_buf(),
            pid_file: socket.with_extension("pid"),
            version_file: socket.with_extension("version"),
            published: false,
            bound: None,
        })
    }

    /// Write `.pid` and `.version` (before binding: whoever finds the socket
    /// live finds them too).
    fn publish(&mut self) -> std::io::Result<()> {
        self.published = true;
        write_atomically(&self.pid_file, &std::process::id().to_string())?;
        write_atomically(&self.version_file, &crate::version())
    }

    fn bound(&mut self) {
        self.bound = std::fs::symlink_metadata(&self.socket)
            .ok()
            .map(|m| (m.dev(), m.ino()));
    }

    /// Give up the socket and the files (the jobs in flight go on).
    fn release(&mut self) {
        if self.lock.is_none() {
            return;
        }
        if let Some(id) = self.bound.take() {
            let now = std::fs::symlink_metadata(&self.socket)
                .ok()
                .map(|m| (m.dev(), m.ino()));
            if now == Some(id) {
                let _ = std::fs::remove_file(&self.socket);
            }
        }
        if self.published {
            let ours = std::fs::read_to_string(&self.pid_file)
                .is_ok_and(|p| p.trim() == std::process::id().to_string());
            if ours {
                let _ = std::fs::remove_file(&self.version_file);
                let _ = std::fs::remove_file(&self.pid_file);
            }
        }
        self.lock = None; // closing the file unlocks it
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.release();
    }
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let ext = path.extension().unwrap_or_default().to_string_lossy();
    let tmp = path.with_extension(format!("{ext}.tmp{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644));
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// SIGTERMs received since the process started (the handler only counts).
static TERMS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_term(_: libc::c_int) {
    TERMS.fetch_add(1, Ordering::SeqCst);
}

/// Running `serve`s and the SIGTERM disposition they replaced (restored
/// when the last one returns).
static SIGTERM_USERS: Mutex<(usize, Option<libc::sigaction>)> = Mutex::new((0, None));

/// While alive, SIGTERM is counted in [`TERMS`] instead of killing the
/// process (no SA_RESTART: a blocked poll returns at once).
struct TermHandler;

impl TermHandler {
    fn install() -> TermHandler {
        let mut users = SIGTERM_USERS.lock().unwrap_or_else(|p| p.into_inner());
        if users.0 == 0 {
            // SAFETY: sigaction with a zeroed struct, an empty mask and a
            // handler that only touches an atomic.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_term as extern "C" fn(libc::c_int) as usize;
                libc::sigemptyset(&mut sa.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(libc::SIGTERM, &sa, &mut old) == 0 {
                    users.1 = Some(old);
                }
            }
        }
        users.0 += 1;
        TermHandler
    }
}

impl Drop for TermHandler {
    fn drop(&mut self) {
        let mut users = SIGTERM_USERS.lock().unwrap_or_else(|p| p.into_inner());
        users.0 -= 1;
        if users.0 == 0 {
            if let Some(old) = users.1.take() {
                // SAFETY: restoring the disposition sigaction gave us.
                unsafe { libc::sigaction(libc::SIGTERM, &old, std::ptr::null_mut()) };
            }
        }
    }
}

/// Why the accept loop ended.
enum Ended {
    Idle,
    Terminated,
}

pub fn serve(socket: &Path, idle: Duration, drain: Duration) -> Result<(), SpawnError> {
    let _term = TermHandler::install();
    let terms_before = TERMS.load(Ordering::SeqCst);
    let mut claim = Claim::take(socket)?;
    let loaded = load().map_err(|e| {
        unavailable(format!(
            "cannot load the eBPF programs: {e} (the service needs root, or CAP_BPF and CAP_PERFMON, and a kernel with BTF)"
        ))
    })?;
    claim.publish()?;
    let listener = bind(socket)?;
    claim.bound();
    listener.set_nonblocking(true)?;
    // SAFETY: eventfd(2); the fd is owned by `Shared` for the service's life.
    let wake = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if wake < 0 {
        return Err(SpawnError::Io(std::io::Error::last_os_error()));
    }
    let (tx, rx) = channel();
    let shared = Arc::new(Shared {
        maps: Mutex::new(loaded.maps),
        cmds: Mutex::new(tx),
        wake,
        next_job: AtomicU32::new(1),
        active: AtomicU32::new(0),
        conns: AtomicU32::new(0),
        held: AtomicU32::new(0),
        last_active: Mutex::new(Instant::now()),
        stop: AtomicBool::new(false),
    });
    let sh = Arc::clone(&shared);
    let ring = loaded.ring;
    let consumer = std::thread::Builder::new()
        .name("roar-ebpf-ring".into())
        .spawn(move || consume(ring, rx, &sh))?;

    let result = accept_loop(&listener, &shared, idle, terms_before);
    // No new clients: a successor may start on this socket while the jobs
    // in flight finish here.
    drop(listener);
    claim.release();
    if let Ok(Ended::Terminated) = result {
        finish_jobs(&shared, drain, terms_before);
    }
    shared.stop.store(true, Ordering::SeqCst);
    shared.send(Cmd::Flush(0, 0));
    let _ = consumer.join();
    // SAFETY: closing our eventfd after the consumer ended.
    unsafe { libc::close(wake) };
    // Dropping `loaded._ebpf` (moved into nothing here: it drops at the end
    // of this function) detaches the programs.
    drop(loaded._ebpf);
    result.map(|_| ())
}

/// After SIGTERM: wait until every client connection has ended (its job
/// finished and its DONE was sent), at most `drain`, or until a second
/// SIGTERM.
fn finish_jobs(shared: &Shared, drain: Duration, terms_before: usize) {
    let open = shared.conns.load(Ordering::SeqCst);
    if open == 0 {
        return;
    }
    eprintln!(
        "roar eBPF service: stopping; finishing {open} job(s) in flight (at most {} s)",
        drain.as_secs()
    );
    let t = Instant::now();
    while shared.conns.load(Ordering::SeqCst) > 0 {
        if t.elapsed() >= drain || TERMS.load(Ordering::SeqCst) > terms_before + 1 {
            eprintln!(
                "roar eBPF service: stopping with {} job(s) unfinished",
                shared.conns.load(Ordering::SeqCst)
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("roar eBPF service: the jobs in flight finished");
}

fn accept_loop(
    listener: &UnixListener,
    shared: &Arc<Shared>,
    idle: Duration,
    terms_before: usize,
) -> Result<Ended, SpawnError> {
    loop {
        if TERMS.load(Ordering::SeqCst) > terms_before {
            return Ok(Ended::Terminated);
        }
        let mut pfd = libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, 250) };
        match listener.accept() {
            Ok((stream, _)) => {
                // A client is arriving: not idle (its job registers soon).
                *shared.last_active.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
                let _ = stream.set_nonblocking(false);
                shared.conns.fetch_add(1, Ordering::SeqCst);
                let sh = Arc::clone(shared);
                let spawned = std::thread::Builder::new()
                    .name("roar-ebpf-conn".into())
                    .spawn(move || {
                        connection(stream, &sh);
                        sh.conns.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    shared.conns.fetch_sub(1, Ordering::SeqCst);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(SpawnError::Io(e)),
        }
        if shared.active.load(Ordering::SeqCst) == 0
            && shared.conns.load(Ordering::SeqCst) == 0
            && shared.held.load(Ordering::SeqCst) == 0
        {
            let since = *shared.last_active.lock().unwrap_or_else(|p| p.into_inner());
            if since.elapsed() >= idle {
                return Ok(Ended::Idle);
            }
        }
    }
}

/// The peer's credentials (SO_PEERCRED).
fn peer_cred(s: &UnixStream) -> Option<libc::ucred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            &mut cred as *mut libc::ucred as *mut libc::c_void,
            &mut len,
        )
    };
    (r == 0).then_some(cred)
}

/// The numbers of a `/proc/<pid>/status` line (`Uid:` real, effective,
/// saved, fs; `Gid:` likewise; `Tgid:`).
fn status_ids(pid: i32, key: &str) -> Option<Vec<u32>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let v = s.lines().find_map(|l| l.strip_prefix(key))?;
    v.split_whitespace().map(|x| x.parse().ok()).collect()
}

/// Real uid of `pid` (from /proc).
fn uid_of(pid: i32) -> Option<u32> {
    status_ids(pid, "Uid:")?.first().copied()
}

/// May `peer` have the running process `pid` traced? Root may; so may the
/// process itself; otherwise every uid and gid of the target (real,
/// effective, saved, fs) must be the peer's, as ptrace demands of an
/// unprivileged tracer — so a setuid program or another user's process
/// cannot be watched.
fn may_attach(peer: &libc::ucred, pid: i32) -> Result<(), String> {
    let Some(tgid) = status_ids(pid, "Tgid:").and_then(|v| v.first().copied()) else {
        return Err(format!("no process {pid} to attach to"));
    };
    if tgid as i32 != pid {
        return Err(format!(
            "{pid} is a thread of process {tgid}; attach to the process"
        ));
    }
    if peer.uid == 0 || peer.pid == pid {
        return Ok(());
    }
    let uids = status_ids(pid, "Uid:").unwrap_or_default();
    let gids = status_ids(pid, "Gid:").unwrap_or_default();
    let same = !uids.is_empty()
        && !gids.is_empty()
        && uids.iter().all(|u| *u == peer.uid)
        && gids.iter().all(|g| *g == peer.gid);
    if same {
        Ok(())
    } else {
        Err(format!(
            "process {pid} belongs to another user or runs with other privileges; you may only attach to your own processes"
        ))
    }
}

/// The threads of `pid` (`None`: no such process).
fn tasks(pid: i32) -> Option<Vec<u32>> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    Some(
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
    )
}

/// Register job `job` for the running process `pid`: every thread goes
/// into `pids`, re-reading the task list until a pass finds no new thread
/// (a thread created by one not yet in the map shows up in the next pass;
/// one created by a thread already in it is added by `on_fork`).
fn register_attached(m: &mut Maps, job: u32, pid: i32) -> Result<(), String> {
    let init = RoarJob {
        live: ATTACHED_LIVE,
        ..Default::default()
    };
    m.jobs
        .insert(job, init, 0)
        .and_then(|()| m.epochs.insert(job, 0, 0))
        .map_err(|e| format!("cannot register the job: {e}"))?;
    let mut added: Vec<u32> = Vec::new();
    let result = (|| {
        for _ in 0..MAX_PASSES {
            let now = tasks(pid).ok_or_else(|| format!("no process {pid} to attach to"))?;
            let new: Vec<u32> = now.into_iter().filter(|t| !added.contains(t)).collect();
            if new.is_empty() {
                return if added.is_empty() {
                    Err(format!("process {pid} has exited"))
                } else {
                    Ok(())
                };
            }
            for tid in new {
                match m.pids.get(&tid, 0) {
                    Ok(j) if j == job => {} // added by on_fork meanwhile
                    Ok(_) => return Err(format!("process {pid} is already traced")),
                    Err(_) => m
                        .pids
                        .insert(tid, job, 0)
                        .map_err(|e| format!("cannot trace thread {tid}: {e}"))?,
                }
                added.push(tid);
            }
        }
        Err(format!(
            "the threads of process {pid} kept changing while they were being attached"
        ))
    })();
    if result.is_err() {
        let stale: Vec<u32> = m
            .pids
            .iter()
            .filter_map(|kv| kv.ok())
            .filter(|(_, v)| *v == job)
            .map(|(k, _)| k)
            .collect();
        for k in stale {
            let _ = m.pids.remove(&k);
        }
        let _ = m.jobs.remove(&job);
        let _ = m.epochs.remove(&job);
    }
    result
}

fn refuse(stream: &mut UnixStream, msg: &str) {
    let _ = proto::send_frame(stream, proto::ERR, msg.as_bytes());
}

/// One client: START or ATTACH, then FLUSH requests (and DETACH) until it
/// closes the socket.
fn connection(mut stream: UnixStream, shared: &Arc<Shared>) {
    // A client that connects and says nothing is dropped.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok((ty, payload)) = proto::read_frame(&mut stream) else {
        return;
    };
    let _ = stream.set_read_timeout(None);
    let attach = match ty {
        proto::START => false,
        proto::ATTACH => true,
        proto::CLAIM => return claim_connection(stream, shared, &payload),
        _ => return refuse(&mut stream, "expected START, ATTACH or CLAIM"),
    };
    let Some((version, pid, token)) = proto::parse_start_token(&payload) else {
        return refuse(&mut stream, "malformed START");
    };
    if let Some(t) = &token {
        if attach || !roar_trace_format::Recovery::valid_token(t) {
            return refuse(&mut stream, &format!("bad recovery token {t:?}"));
        }
    }
    let mine = crate::version();
    if version != mine {
        return refuse(
            &mut stream,
            &format!(
                "the running roar eBPF service is version {mine} but this roar is {version}; stop the old service (it exits when idle) and retry"
            ),
        );
    }
    let Some(peer) = peer_cred(&stream) else {
        return refuse(&mut stream, "cannot identify the client (SO_PEERCRED)");
    };
    if attach {
        if let Err(m) = may_attach(&peer, pid) {
            return refuse(&mut stream, &m);
        }
    }
    let uid = peer.uid;
    match uid_of(pid) {
        None => return refuse(&mut stream, &format!("no process {pid} to trace")),
        Some(owner) if uid != 0 && owner != uid => {
            return refuse(
                &mut stream,
                &format!(
                    "process {pid} belongs to another user; you may only trace your own processes"
                ),
            )
        }
        Some(_) => {}
    }
    let job = shared.next_job.fetch_add(1, Ordering::SeqCst);
    if attach {
        let r = register_attached(&mut shared.maps(), job, pid);
        if let Err(m) = r {
            return refuse(&mut stream, &m);
        }
    } else {
        let mut m = shared.maps();
        if m.pids.get(&(pid as u32), 0).is_ok() {
            drop(m);
            return refuse(&mut stream, &format!("process {pid} is already traced"));
        }
        let init = RoarJob {
            live: 1,
            ..Default::default()
        };
        let r = m
            .jobs
            .insert(job, init, 0)
            .and_then(|()| m.epochs.insert(job, 0, 0))
            .and_then(|()| m.pids.insert(pid as u32, job, 0));
        if let Err(e) = r {
            let _ = m.jobs.remove(&job);
            let _ = m.epochs.remove(&job);
            drop(m);
            return refuse(&mut stream, &format!("cannot register the job: {e}"));
        }
    }
    shared.active.fetch_add(1, Ordering::SeqCst);
    let (tx, rx) = channel();
    let keep = token.map(|token| Keep {
        token,
        uid,
        root: pid,
        records: Vec::new(),
        overflow: 0,
    });
    shared.send(Cmd::Register(job, tx, keep));
    if proto::send_frame(&stream, proto::ACK, &job.to_ne_bytes()).is_err() {
        shared.send(Cmd::Gone(job));
        return;
    }
    serve_job(stream, shared, job, rx);
}

/// Follow a registered job for its client: the records go out on a writer
/// thread; the client's FLUSH, DETACH and BYE come in here until it closes.
fn serve_job(mut stream: UnixStream, shared: &Arc<Shared>, job: u32, rx: Receiver<Out>) {
    let writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => {
            shared.send(Cmd::Gone(job));
            return;
        }
    };
    let w = std::thread::Builder::new()
        .name("roar-ebpf-out".into())
        .spawn(move || write_loop(writer, &rx));
    loop {
        match proto::read_frame(&mut stream) {
            Ok((proto::FLUSH, p)) => {
                let seq = proto::parse_u64(&p).unwrap_or(0);
                {
                    // A new dedup generation: accesses repeated after an
                    // interval mark are reported again.
                    let mut m = shared.maps();
                    let e = m.epochs.get(&job, 0).unwrap_or(0);
                    let _ = m.epochs.insert(job, e.wrapping_add(1), 0);
                }
                shared.send(Cmd::Flush(job, seq));
            }
            Ok((proto::DETACH, _)) => shared.send(Cmd::Detach(job)),
            Ok((proto::BYE, _)) => shared.send(Cmd::Bye(job)),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    shared.send(Cmd::Gone(job));
    if let Ok(w) = w {
        let _ = w.join();
    }
}

/// A client claiming a recoverable job whose client went away (see
/// `proto.rs`).
fn claim_connection(mut stream: UnixStream, shared: &Arc<Shared>, payload: &[u8]) {
    let Some((version, token, mode)) = proto::parse_claim(payload) else {
        return refuse(&mut stream, "malformed CLAIM");
    };
    let mine = crate::version();
    if version != mine {
        return refuse(
            &mut stream,
            &format!("the running roar eBPF service is version {mine} but this roar is {version}"),
        );
    }
    let Some(peer) = peer_cred(&stream) else {
        return refuse(&mut stream, "cannot identify the client (SO_PEERCRED)");
    };
    let (reply, answer) = channel();
    shared.send(Cmd::Claim(ClaimReq {
        token: token.clone(),
        uid: peer.uid,
        mode,
        reply,
    }));
    match answer.recv_timeout(Duration::from_secs(30)) {
        Ok(ClaimReply::Stream(job, root, rx)) => {
            let mut ack = job.to_ne_bytes().to_vec();
            ack.extend_from_slice(&root.to_ne_bytes());
            if proto::send_frame(&stream, proto::ACK, &ack).is_err() {
                shared.send(Cmd::Gone(job));
                return;
            }
            serve_job(stream, shared, job, rx);
        }
        Ok(ClaimReply::Pending) => {
            let _ = proto::send_frame(&stream, proto::PENDING, &[]);
        }
        Ok(ClaimReply::Forgotten) => {
            let _ = proto::send_frame(&stream, proto::DONE, &[0u8; 16]);
        }
        Ok(ClaimReply::NotYours) => refuse(
            &mut stream,
            &format!("the job {token} belongs to another user"),
        ),
        Ok(ClaimReply::Unknown) | Err(_) => refuse(
            &mut stream,
            &format!(
                "this eBPF service holds no job {token} (it was recorded already, it ended more than {} h ago, or the service was restarted since)",
                proto::HOLD_SECS / 3600
            ),
        ),
    }
}

fn write_loop(out: UnixStream, rx: &Receiver<Out>) {
    while let Ok(msg) = rx.recv() {
        let r = match &msg {
            Out::Events(b) => proto::send_frame(&out, proto::EVENTS, b),
            Out::Flushed(s) => proto::send_frame(&out, proto::FLUSHED, &proto::u64_payload(*s)),
            Out::Done(d, end) => {
                let mut p = proto::u64_payload(*d).to_vec();
                p.extend_from_slice(&proto::u64_payload(*end));
                proto::send_frame(&out, proto::DONE, &p)
            }
        };
        if r.is_err() || matches!(msg, Out::Done(..)) {
            return;
        }
    }
}

struct JobState {
    /// The client's writer (`None`: the client went away).
    tx: Option<Sender<Out>>,
    batch: Vec<u8>,
    flushes: Vec<u64>,
    done: bool,
    detach: bool,
    keep: Option<Keep>,
}

impl JobState {
    /// Hand `out` to the client, if it is still there.
    fn deliver(&mut self, out: Out) {
        if let Some(tx) = &self.tx {
            if tx.send(out).is_err() {
                self.tx = None; // its writer ended: the client is going away
            }
        }
    }
}

/// A claim (see `proto.rs`): hand the claimant what the job recorded.
fn claim(jobs: &mut StdHashMap<u32, JobState>, held: &mut Vec<Held>, c: &ClaimReq) -> ClaimReply {
    let may = |k: &Keep| c.uid == 0 || c.uid == k.uid;
    for (j, st) in jobs.iter_mut() {
        let Some(k) = st.keep.as_ref().filter(|k| k.token == c.token) else {
            continue;
        };
        if !may(k) {
            return ClaimReply::NotYours;
        }
        if c.mode != proto::CLAIM_WAIT || st.tx.is_some() {
            return ClaimReply::Pending;
        }
        let (tx, rx) = channel();
        for f in k.frames() {
            let _ = tx.send(Out::Events(f));
        }
        let root = k.root;
        st.tx = Some(tx);
        return ClaimReply::Stream(*j, root, rx);
    }
    let Some(i) = held.iter().position(|h| h.keep.token == c.token) else {
        return ClaimReply::Unknown;
    };
    if !may(&held[i].keep) {
        return ClaimReply::NotYours;
    }
    if c.mode == proto::CLAIM_FORGET {
        held.remove(i);
        return ClaimReply::Forgotten;
    }
    let h = &mut held[i];
    let (tx, rx) = channel();
    for f in h.keep.frames() {
        let _ = tx.send(Out::Events(f));
    }
    let _ = tx.send(Out::Done(h.drops + h.keep.overflow, h.end_ns));
    // Held until the claimant says BYE (or goes away and the hold expires).
    h.since = Instant::now();
    ClaimReply::Stream(h.job, h.keep.root, rx)
}

/// The ring consumer: drains the ring (woken by the kernel when it fills
/// or a job ends, by a client's flush, or every POLL_MS), routes records
/// to jobs, answers flushes after the drain, and ends jobs.
fn consume(mut ring: RingBuf<MapData>, rx: Receiver<Cmd>, shared: &Arc<Shared>) {
    const POLL_MS: i32 = 20;
    const CHECK_EVERY: Duration = Duration::from_millis(100);
    let mut jobs: StdHashMap<u32, JobState> = StdHashMap::new();
    let mut held: Vec<Held> = Vec::new();
    let mut last_check = Instant::now();
    loop {
        let mut pfds = [
            libc::pollfd {
                fd: ring.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: shared.wake,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let timeout = if jobs.is_empty() { 500 } else { POLL_MS };
        // SAFETY: poll on two valid pollfds.
        unsafe { libc::poll(pfds.as_mut_ptr(), 2, timeout) };
        let mut v = 0u64;
        // SAFETY: draining our non-blocking eventfd into a local.
        unsafe { libc::read(shared.wake, &mut v as *mut u64 as *mut libc::c_void, 8) };
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        // Commands first: a flush asked before this drain is answered after it.
        let mut gone = Vec::new();
        let mut claims = Vec::new();
        while let Ok(c) = rx.try_recv() {
            match c {
                Cmd::Register(j, tx, keep) => {
                    jobs.insert(
                        j,
                        JobState {
                            tx: Some(tx),
                            batch: Vec::new(),
                            flushes: Vec::new(),
                            done: false,
                            detach: false,
                            keep,
                        },
                    );
                }
                Cmd::Flush(j, s) => {
                    if let Some(st) = jobs.get_mut(&j) {
                        st.flushes.push(s);
                    }
                }
                Cmd::Detach(j) => {
                    if let Some(st) = jobs.get_mut(&j) {
                        st.detach = true;
                    }
                }
                Cmd::Gone(j) => gone.push(j),
                Cmd::Bye(j) => held.retain(|h| h.job != j),
                Cmd::Claim(c) => claims.push(c),
            }
        }
        // Jobs whose last task is gone (in case their DONE record was lost):
        // looked at before the drain, so their records are all in it.
        if last_check.elapsed() >= CHECK_EVERY && !jobs.is_empty() {
            last_check = Instant::now();
            let m = shared.maps();
            for (j, st) in jobs.iter_mut() {
                if let Ok(info) = m.jobs.get(j, 0) {
                    if info.live <= 0 {
                        st.done = true;
                    }
                }
            }
        }
        while let Some(item) = ring.next() {
            let rec: &[u8] = &item;
            let Some(h) = Header::parse(rec) else {
                continue;
            };
            let Some(st) = jobs.get_mut(&h.job) else {
                continue;
            };
            if h.kind == EV_DONE {
                st.done = true;
                continue;
            }
            if let Some(k) = st.keep.as_mut() {
                k.push(rec);
            }
            if st.tx.is_none() {
                continue;
            }
            st.batch
                .extend_from_slice(&(rec.len() as u32).to_ne_bytes());
            st.batch.extend_from_slice(rec);
            if st.batch.len() > proto::MAX_FRAME / 2 {
                let b = std::mem::take(&mut st.batch);
                st.deliver(Out::Events(b));
            }
        }
        let mut finished = Vec::new();
        for (j, st) in jobs.iter_mut() {
            if !st.batch.is_empty() {
                let b = std::mem::take(&mut st.batch);
                st.deliver(Out::Events(b));
            }
            for s in std::mem::take(&mut st.flushes) {
                st.deliver(Out::Flushed(s));
            }
            if st.done || st.detach {
                finished.push(*j);
            }
        }
        for j in finished {
            if let Some(mut st) = jobs.remove(&j) {
                // A detached job's tasks live on: they leave `pids`.
                let drops = end_job(shared, j, st.detach && !st.done);
                let end_ns = roar_trace_format::now_ns();
                st.deliver(Out::Done(drops, end_ns));
                if let Some(keep) = st.keep.take() {
                    held.push(Held {
                        job: j,
                        keep,
                        drops,
                        end_ns,
                        since: Instant::now(),
                    });
                }
            }
        }
        for j in gone {
            match jobs.get_mut(&j) {
                // Recoverable: traced on, its records kept for a claim.
                Some(st) if st.keep.is_some() && !st.detach => st.tx = None,
                Some(_) => {
                    jobs.remove(&j);
                    end_job(shared, j, true);
                }
                None => {} // ended: its records (if kept) are held
            }
        }
        for c in claims {
            let reply = claim(&mut jobs, &mut held, &c);
            let _ = c.reply.send(reply);
        }
        let hold = Duration::from_secs(proto::HOLD_SECS);
        held.retain(|h| h.since.elapsed() < hold);
        shared.held.store(held.len() as u32, Ordering::SeqCst);
    }
}

/// Forget job `j` in the kernel maps; returns its drop count. A cancelled
/// job (its client went away, or it was detached) may still have live
/// tasks: they stop being traced.
fn end_job(shared: &Shared, j: u32, cancelled: bool) -> u64 {
    let mut m = shared.maps();
    let drops = m.jobs.get(&j, 0).map(|i| i.drops).unwrap_or(0);
    let _ = m.jobs.remove(&j);
    let _ = m.epochs.remove(&j);
    let stale: Vec<u32> = if cancelled {
        m.pids
            .iter()
            .filter_map(|kv| kv.ok())
            .filter(|(_, v)| *v == j)
            .map(|(k, _)| k)
            .collect()
    } else {
        Vec::new()
    };
    for k in stale {
        let _ = m.pids.remove(&k);
    }
    drop(m);
    shared.active.fetch_sub(1, Ordering::SeqCst);
    *shared.last_active.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    drops
}
