//! Long-lived mode: a traced process marks intervals ("cell 3 starts",
//! "cell 3 ends") and receives the access summary of each interval.
//!
//! The backend exports `ROAR_TRACE_CONTROL=<socket path>` to the traced
//! tree. A process connects to that Unix socket and sends lines:
//!
//! | request | reply (one JSON line) |
//! | --- | --- |
//! | `begin <label>` | `{"ok":true}` |
//! | `end` | `{"ok":true,"label":"<label>","summary":{…access summary…}}` |
//!
//! or `{"ok":false,"error":"…"}`. Because the request is sent after the
//! process's own accesses, and the collector flushes the backend's buffers
//! before answering, the interval holds everything the tree did between
//! the two marks — including processes started in the interval.
//! The same socket works under every backend; it is not itself traced
//! (sockets are not file accesses).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

use crate::job::Collector;

/// The environment variable naming the control socket.
pub const CONTROL_ENV: &str = "ROAR_TRACE_CONTROL";

struct Shared {
    collector: Arc<Collector>,
    root_pid: AtomicI32,
    stopping: AtomicBool,
}

/// The control socket of one traced job; removed when dropped.
pub struct ControlServer {
    dir: PathBuf,
    path: PathBuf,
    shared: Arc<Shared>,
}

fn private_dir() -> std::io::Result<PathBuf> {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    for attempt in 0..100u32 {
        let dir = base.join(format!("roar-ctl-{}-{attempt}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free control-socket directory"))
}

impl ControlServer {
    pub fn start(collector: Arc<Collector>) -> std::io::Result<Self> {
        let dir = private_dir()?;
        let path = dir.join("control.sock");
        let listener = UnixListener::bind(&path)?;
        let shared = Arc::new(Shared {
            collector,
            root_pid: AtomicI32::new(0),
            stopping: AtomicBool::new(false),
        });
        let sh = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("roar-control".into())
            .spawn(move || accept_loop(&listener, &sh))?;
        Ok(ControlServer { dir, path, shared })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The root pid reported in interval summaries.
    pub fn set_root_pid(&self, pid: i32) {
        self.shared.root_pid.store(pid, Ordering::Relaxed);
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag and exits.
        let _ = UnixStream::connect(&self.path);
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn accept_loop(listener: &UnixListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let sh = Arc::clone(shared);
        let _ = std::thread::Builder::new()
            .name("roar-control-conn".into())
            .spawn(move || serve(stream, &sh));
    }
}

fn serve(stream: UnixStream, shared: &Shared) {
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { return };
        let reply = answer(line.trim_end(), shared);
        if out
            .write_all(reply.as_bytes())
            .and_then(|()| out.write_all(b"\n"))
            .is_err()
        {
            return;
        }
    }
}

fn answer(request: &str, shared: &Shared) -> String {
    let (verb, arg) = request.split_once(' ').unwrap_or((request, ""));
    match verb {
        "begin" => {
            shared.collector.begin_interval(arg);
            r#"{"ok":true}"#.to_string()
        }
        "end" => match shared
            .collector
            .end_interval(shared.root_pid.load(Ordering::Relaxed))
        {
            Some((label, summary)) => format!(
                r#"{{"ok":true,"label":{},"summary":{}}}"#,
                serde_json::Value::String(label),
                summary.to_json()
            ),
            None => error("no interval is open; send `begin <label>` first"),
        },
        _ => error(&format!("unknown request {verb:?}; expected begin or end")),
    }
}

fn error(message: &str) -> String {
    format!(
        r#"{{"ok":false,"error":{}}}"#,
        serde_json::Value::String(message.to_string())
    )
}
