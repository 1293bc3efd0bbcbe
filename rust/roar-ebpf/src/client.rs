//! `spawn`: the client side of a job. Forks the command paused, has the
//! loader service trace its pid, releases it, and folds the records the
//! service streams back into the job's [`Collector`].

use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use roar_trace_format::{
    now_ns, start_control, Collector, Event, Job, Launch, RunInfo, SpawnConfig, SpawnError, Summary,
};

use crate::events::{self, Record};
use crate::{child, proto};

/// How long a flush (interval mark) waits for the service.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Flush bookkeeping shared by the flush hook and the reader thread.
struct Flusher {
    out: Mutex<UnixStream>,
    next: AtomicU64,
    acked: Mutex<(u64, bool)>, // (highest FLUSHED seq, connection closed)
    cond: Condvar,
}

impl Flusher {
    fn flush(&self) {
        let seq = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        {
            let out = self.out.lock().unwrap_or_else(|p| p.into_inner());
            if proto::send_frame(&out, proto::FLUSH, &proto::u64_payload(seq)).is_err() {
                return;
            }
        }
        let deadline = Instant::now() + FLUSH_TIMEOUT;
        let mut g = self.acked.lock().unwrap_or_else(|p| p.into_inner());
        while g.0 < seq && !g.1 {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            g = self
                .cond
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn acked(&self, seq: Option<u64>, closed: bool) {
        let mut g = self.acked.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = seq {
            g.0 = g.0.max(s);
        }
        g.1 |= closed;
        self.cond.notify_all();
    }
}

fn unavailable(m: impl Into<String>) -> SpawnError {
    SpawnError::Unavailable(m.into())
}

/// Send START (or ATTACH) for `pid` to the service; returns the job id.
fn start_job(stream: &mut UnixStream, pid: i32) -> Result<u32, SpawnError> {
    request_job(stream, proto::START, pid)
}

fn request_job(stream: &mut UnixStream, ty: u8, pid: i32) -> Result<u32, SpawnError> {
    let sock = crate::socket_path();
    proto::send_frame(stream, ty, &proto::start_payload(&crate::version(), pid)).map_err(|e| {
        unavailable(format!(
            "the roar eBPF service at {} failed: {e}",
            sock.display()
        ))
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let (ty, payload) = proto::read_frame(stream).map_err(|e| {
        unavailable(format!(
            "the roar eBPF service at {} did not answer: {e}",
            sock.display()
        ))
    })?;
    stream.set_read_timeout(None)?;
    match ty {
        proto::ACK if payload.len() >= 4 => Ok(u32::from_ne_bytes([
            payload[0], payload[1], payload[2], payload[3],
        ])),
        proto::ERR => Err(unavailable(String::from_utf8_lossy(&payload).into_owned())),
        _ => Err(unavailable(format!(
            "the roar eBPF service at {} answered with an unexpected message",
            sock.display()
        ))),
    }
}

fn connect() -> Result<UnixStream, SpawnError> {
    let sock = crate::socket_path();
    UnixStream::connect(&sock).map_err(|e| {
        unavailable(format!(
            "the roar eBPF service of this roar build is not running ({}: {e}); roar starts it on demand as root (python -m roar.tracing.ebpf_service serve), or set {} to where a running one lives (now {}; each build's service adds its tag to that name)",
            sock.display(),
            crate::SOCKET_ENV,
            crate::socket_base().display()
        ))
    })
}

pub fn spawn(cfg: &SpawnConfig) -> Result<Job, SpawnError> {
    crate::availability().map_err(SpawnError::Unavailable)?;
    if cfg.argv.is_empty() {
        return Err(SpawnError::InvalidArgument("empty argv".into()));
    }
    let mut stream = connect()?;
    let start_ns = now_ns();
    let collector = Collector::new("ebpf");
    let (env, control) = start_control(cfg, &collector)?;
    let prepared = Launch::new(&SpawnConfig { env, ..cfg.clone() })?;
    let mut paused = child::fork_paused(&prepared)?;
    let pid = paused.pid;
    if let Err(e) = start_job(&mut stream, pid) {
        paused.abort();
        return Err(e);
    }
    collector.push(Event::ProcessStart {
        pid,
        // SAFETY: getpid has no preconditions.
        ppid: unsafe { libc::getpid() },
    });
    if let Err(e) = paused.release() {
        paused.abort();
        return Err(SpawnError::Io(e));
    }
    let status_fd = paused.into_status_fd();
    let flusher = Arc::new(Flusher {
        out: Mutex::new(stream.try_clone()?),
        next: AtomicU64::new(0),
        acked: Mutex::new((0, false)),
        cond: Condvar::new(),
    });
    if let Some(c) = &control {
        c.set_root_pid(pid);
        let f = Arc::clone(&flusher);
        collector.set_flush(Box::new(move || f.flush()));
    }
    let sink = Arc::clone(&collector);
    std::thread::Builder::new()
        .name("roar-ebpf-client".into())
        .spawn(move || {
            run(stream, sink, flusher, prepared, pid, status_fd, start_ns);
        })?;
    Ok(Job::new(pid, collector, control))
}

/// Read the service's stream until DONE, then reap the root and publish.
fn run(
    mut stream: UnixStream,
    sink: Arc<Collector>,
    flusher: Arc<Flusher>,
    prepared: Launch,
    pid: i32,
    status_fd: i32,
    start_ns: u64,
) {
    let mut drops = None;
    let mut batch = Vec::new();
    while let Ok((ty, payload)) = proto::read_frame(&mut stream) {
        match ty {
            proto::EVENTS => {
                decode_frame(&payload, &mut batch);
                sink.push_all(batch.drain(..));
            }
            proto::FLUSHED => flusher.acked(proto::parse_u64(&payload), false),
            proto::DONE => {
                drops = Some(proto::parse_u64(&payload).unwrap_or(0));
                break;
            }
            _ => {}
        }
    }
    flusher.acked(None, true);
    match drops {
        None => sink.warn(
            "the connection to the roar eBPF service was lost before the job ended; this run's provenance is incomplete",
        ),
        Some(0) => {}
        Some(n) => sink.warn(format!(
            "the eBPF ring buffer dropped {n} events; this run's provenance is incomplete"
        )),
    }
    let end_ns = now_ns();
    let mut st = 0;
    loop {
        // SAFETY: reaping our own child (a specific pid: other children of
        // the host process are left alone).
        let r = unsafe { libc::waitpid(pid, &mut st, 0) };
        if r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if r == -1 {
            st = 127 << 8;
        }
        break;
    }
    let (exit_code, exit_signal) = roar_trace_format::exit_status(st).unwrap_or((127, None));
    let exec_error = child::read_status(status_fd).map(|(tag, e)| prepared.exec_error(tag, e));
    sink.finish(RunInfo {
        root_pid: pid,
        exit_code,
        exit_signal,
        exec_error,
        start_ns,
        end_ns,
        stops: 0,
    });
}

/// A running process traced since [`attach`]; [`Attached::detach`] ends
/// the trace and returns its summary. Dropped without `detach`, the
/// service stops tracing it (the socket closes).
pub struct Attached {
    pid: i32,
    collector: Arc<Collector>,
    stream: UnixStream,
    ended: Receiver<Option<u64>>,
    start_ns: u64,
    /// The process that attached (a forked copy must not end the job).
    owner: i32,
}

/// Have the service trace the running process `pid` — all its threads,
/// and every thread and process they start — until [`Attached::detach`].
pub fn attach(pid: i32) -> Result<Attached, SpawnError> {
    crate::availability().map_err(SpawnError::Unavailable)?;
    let mut stream = connect()?;
    let start_ns = now_ns();
    let collector = Collector::new("ebpf");
    // Read before the job starts: the service refuses a pid that is gone.
    collector.attached_root(pid);
    request_job(&mut stream, proto::ATTACH, pid)?;
    let (tx, ended) = mpsc::channel();
    let mut reader = stream.try_clone()?;
    let sink = Arc::clone(&collector);
    std::thread::Builder::new()
        .name("roar-ebpf-attached".into())
        .spawn(move || {
            let mut batch = Vec::new();
            let drops = loop {
                match proto::read_frame(&mut reader) {
                    Ok((proto::EVENTS, payload)) => {
                        decode_frame(&payload, &mut batch);
                        sink.push_all(batch.drain(..));
                    }
                    Ok((proto::DONE, payload)) => {
                        break Some(proto::parse_u64(&payload).unwrap_or(0))
                    }
                    Ok(_) => {}
                    Err(_) => break None,
                }
            };
            let _ = tx.send(drops);
        })?;
    Ok(Attached {
        pid,
        collector,
        stream,
        ended,
        start_ns,
        // SAFETY: getpid has no preconditions.
        owner: unsafe { libc::getpid() },
    })
}

impl Attached {
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Stop tracing and return the summary of everything the tree did
    /// between [`attach`] and this call (the service sends every record
    /// first). `timeout` bounds the wait for the service (`None`: 60 s).
    pub fn detach(self, timeout: Option<Duration>) -> Result<Summary, SpawnError> {
        let timeout = timeout.unwrap_or(Duration::from_secs(60));
        let sent = proto::send_frame(&self.stream, proto::DETACH, &[]);
        let drops = match self.ended.recv_timeout(timeout) {
            Ok(d) => d,
            Err(mpsc::RecvTimeoutError::Timeout) if sent.is_ok() => {
                return Err(SpawnError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "the roar eBPF service did not answer the detach within {:.1} s",
                        timeout.as_secs_f64()
                    ),
                )))
            }
            Err(_) => None,
        };
        match drops {
            None => self.collector.warn(
                "the connection to the roar eBPF service was lost before the detach; this trace's provenance is incomplete",
            ),
            Some(0) => {}
            Some(n) => self.collector.warn(format!(
                "the eBPF ring buffer dropped {n} events; this trace's provenance is incomplete"
            )),
        }
        Ok(self.collector.finish_attached(self.pid, self.start_ns, 0))
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        // Cancels the job if it is still traced; ends the reader thread.
        // Not in a forked child (its copy of the socket is the parent's
        // connection too): closing its fd is enough there.
        // SAFETY: getpid has no preconditions.
        if unsafe { libc::getpid() } == self.owner {
            let _ = self.stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// The records of one EVENTS payload, decoded into `out`.
fn decode_frame(payload: &[u8], out: &mut Vec<Event>) {
    let mut p = payload;
    while p.len() >= 4 {
        let n = u32::from_ne_bytes([p[0], p[1], p[2], p[3]]) as usize;
        let Some(rec) = p.get(4..4 + n) else { break };
        if let Some(r) = Record::parse(rec) {
            events::decode(&r, out);
        }
        p = &p[4 + n..];
    }
}
