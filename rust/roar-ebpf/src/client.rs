//! `spawn`: the client side of a job. Forks the command paused, has the
//! loader service trace its pid, releases it, and folds the records the
//! service streams back into the job's [`Collector`].

use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use roar_trace_format::{
    now_ns, start_control, Collector, Event, Job, Launch, Recovery, RunInfo, SpawnConfig,
    SpawnError, Summary,
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

/// Send START for `pid` (with the recovery token, if any) to the service;
/// returns the job id.
fn start_job(stream: &mut UnixStream, pid: i32, token: Option<&str>) -> Result<u32, SpawnError> {
    let payload = match token {
        Some(t) => proto::start_payload_with_token(&crate::version(), pid, t),
        None => proto::start_payload(&crate::version(), pid),
    };
    request(stream, proto::START, &payload)
}

fn request_job(stream: &mut UnixStream, ty: u8, pid: i32) -> Result<u32, SpawnError> {
    request(stream, ty, &proto::start_payload(&crate::version(), pid))
}

fn request(stream: &mut UnixStream, ty: u8, payload: &[u8]) -> Result<u32, SpawnError> {
    let sock = crate::socket_path();
    proto::send_frame(stream, ty, payload).map_err(|e| {
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
    let token = cfg.recovery_token()?;
    let mut stream = connect()?;
    let start_ns = now_ns();
    let collector = Collector::new("ebpf");
    collector.set_summary_file(cfg.recovery.as_ref().and_then(|r| r.summary_file.clone()));
    let (env, control) = start_control(cfg, &collector)?;
    let prepared = Launch::new(&SpawnConfig { env, ..cfg.clone() })?;
    let mut paused = child::fork_paused(&prepared)?;
    let pid = paused.pid;
    if let Err(e) = start_job(&mut stream, pid, token) {
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
    // Ending the job early (processes left running): DETACH, which the
    // service answers with every record so far and DONE; the tree runs on
    // untraced.
    let stopped = Arc::new(AtomicBool::new(false));
    {
        let f = Arc::clone(&flusher);
        let stopped = Arc::clone(&stopped);
        collector.set_stop(Box::new(move || {
            stopped.store(true, Ordering::SeqCst);
            let out = f.out.lock().unwrap_or_else(|p| p.into_inner());
            let _ = proto::send_frame(&out, proto::DETACH, &[]);
        }));
    }
    let sink = Arc::clone(&collector);
    let recoverable = token.is_some();
    std::thread::Builder::new()
        .name("roar-ebpf-client".into())
        .spawn(move || {
            let r = Root {
                prepared,
                pid,
                status_fd,
                start_ns,
                stopped,
                recoverable,
            };
            run(stream, sink, flusher, r);
        })?;
    Ok(Job::new(pid, collector, control))
}

/// The command as the reader thread needs it.
struct Root {
    prepared: Launch,
    pid: i32,
    status_fd: i32,
    start_ns: u64,
    /// The caller stopped waiting ([`Collector::finish_now`]).
    stopped: Arc<AtomicBool>,
    /// The job was started with a recovery token: say BYE at the end.
    recoverable: bool,
}

/// Read the service's stream until DONE, then reap the root and publish.
fn run(mut stream: UnixStream, sink: Arc<Collector>, flusher: Arc<Flusher>, r: Root) {
    let Root {
        prepared,
        pid,
        status_fd,
        start_ns,
        stopped,
        recoverable,
    } = r;
    let mut drops = None;
    let mut batch = Vec::new();
    while let Ok((ty, payload)) = proto::read_frame(&mut stream) {
        match ty {
            proto::EVENTS => {
                decode_frame(&payload, &mut batch);
                note_root_exit(&sink, pid, &batch);
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
    let early = stopped.load(Ordering::SeqCst);
    let mut st = 0;
    let reaped = loop {
        // SAFETY: reaping our own child (a specific pid: other children of
        // the host process are left alone). Ended early, the root may still
        // run (untraced now): do not wait for it.
        let r = unsafe { libc::waitpid(pid, &mut st, if early { libc::WNOHANG } else { 0 }) };
        if r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        break r == pid;
    };
    let status = if reaped {
        roar_trace_format::exit_status(st)
    } else {
        sink.root_exit()
    };
    let exec_error = if reaped || !early {
        child::read_status(status_fd).map(|(tag, e)| prepared.exec_error(tag, e))
    } else {
        None
    };
    let incomplete = early.then(|| {
        format!(
            "the trace was ended while {} process(es) of the tree still ran (they run on untraced)",
            sink.running_pids().len()
        )
    });
    let (exit_code, exit_signal) = status.unwrap_or((-1, None));
    sink.finish(RunInfo {
        root_pid: pid,
        exit_code,
        exit_signal,
        exit_unknown: status.is_none() && exec_error.is_none(),
        exec_error,
        start_ns,
        end_ns,
        stops: 0,
        incomplete,
    });
    if recoverable {
        // The summary is safe (written where it was asked, and handed out):
        // the service may forget the records it kept for a recovery.
        let out = flusher.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = proto::send_frame(&out, proto::BYE, &[]);
    }
}

/// The root's end, as soon as its exit record arrives.
fn note_root_exit(sink: &Collector, root: i32, events: &[Event]) {
    for ev in events {
        if let Event::ProcessExit {
            pid,
            exit_code,
            signal,
        } = ev
        {
            if *pid == root {
                match (exit_code, signal) {
                    (_, Some(sig)) => sink.set_root_exit(128 + sig, Some(*sig)),
                    (Some(c), None) => sink.set_root_exit(*c, None),
                    (None, None) => {}
                }
            }
        }
    }
}

/// What [`claim`] found of a recoverable job whose client went away.
#[derive(Debug)]
pub enum Claimed {
    /// The job still runs (not waited for).
    Pending,
    /// Forgotten, as asked.
    Forgotten,
    /// Everything the job recorded (`incomplete` says it was recovered;
    /// `exit_known` only when the root's exit record was seen).
    Found(Box<Summary>),
    /// The service holds no such job; why.
    Unknown(String),
}

/// Claim the recoverable job `token` from this build's service (see
/// `proto.rs`): `mode` is [`proto::CLAIM_PEEK`] (the summary if the job
/// has ended, else `Pending`), [`proto::CLAIM_WAIT`] (follow it to its
/// end) or [`proto::CLAIM_FORGET`] (once the summary is kept: the service
/// holds the records until then). `Err`: the service is not running.
pub fn claim(token: &str, mode: u8) -> Result<Claimed, SpawnError> {
    crate::availability().map_err(SpawnError::Unavailable)?;
    if !Recovery::valid_token(token) {
        return Err(SpawnError::InvalidArgument(format!(
            "bad recovery token {token:?}"
        )));
    }
    let mut stream = connect()?;
    proto::send_frame(
        &stream,
        proto::CLAIM,
        &proto::claim_payload(&crate::version(), token, mode),
    )?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let (ty, payload) = proto::read_frame(&mut stream)?;
    stream.set_read_timeout(None)?;
    let root = match ty {
        proto::PENDING => return Ok(Claimed::Pending),
        proto::DONE => return Ok(Claimed::Forgotten),
        proto::ERR => {
            return Ok(Claimed::Unknown(
                String::from_utf8_lossy(&payload).into_owned(),
            ))
        }
        proto::ACK if payload.len() >= 8 => {
            i32::from_ne_bytes([payload[4], payload[5], payload[6], payload[7]])
        }
        _ => {
            return Err(SpawnError::Io(std::io::Error::other(
                "the roar eBPF service answered the claim with an unexpected message",
            )))
        }
    };
    let collector = Collector::new("ebpf");
    let mut batch = Vec::new();
    let mut done = None;
    while let Ok((ty, payload)) = proto::read_frame(&mut stream) {
        match ty {
            proto::EVENTS => {
                decode_frame(&payload, &mut batch);
                note_root_exit(&collector, root, &batch);
                collector.push_all(batch.drain(..));
            }
            proto::DONE => {
                let drops = proto::parse_u64(&payload).unwrap_or(0);
                let end = payload
                    .get(8..16)
                    .and_then(proto::parse_u64)
                    .unwrap_or_else(now_ns);
                done = Some((drops, end));
                break;
            }
            _ => {}
        }
    }
    let end_ns = match done {
        None => {
            collector.warn(
                "the connection to the roar eBPF service was lost while recovering the job; its provenance is incomplete",
            );
            now_ns()
        }
        Some((0, end)) => end,
        Some((n, end)) => {
            collector.warn(format!(
                "the eBPF service dropped {n} events of this job; its provenance is incomplete"
            ));
            end
        }
    };
    let status = collector.root_exit();
    let (exit_code, exit_signal) = status.unwrap_or((-1, None));
    collector.finish(RunInfo {
        root_pid: root,
        exit_code,
        exit_signal,
        exit_unknown: status.is_none(),
        end_ns,
        incomplete: Some(
            "recovered from the eBPF service after the process tracing the job died".into(),
        ),
        ..Default::default()
    });
    // No BYE: the service holds the records until the claimant, having
    // kept the summary, says `claim(token, CLAIM_FORGET)`.
    collector
        .wait_timeout(Some(Duration::ZERO))
        .map(|s| Claimed::Found(Box::new(s)))
        .ok_or_else(|| SpawnError::Io(std::io::Error::other("no summary")))
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
