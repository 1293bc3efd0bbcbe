//! The job's log: binary records appended by the shim (one `write(2)` each
//! on an `O_APPEND` fd), read here incrementally and turned into events.
//! Layout: see `shim/roar_preload.c` (`struct hdr`).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;

use roar_trace_format::{Collector, Event, OpenFlags, RawPath};

const MAGIC: u32 = 0x5241_4f52;
const HDR: usize = 40;
/// Larger than any record the shim writes (exec argv is capped at 64 KiB).
const MAX_REC: usize = 1 << 20;
const MTIME_NONE: i64 = i64::MIN;

const R_OPEN: u16 = 1;
const R_RENAME: u16 = 2;
const R_UNLINK: u16 = 3;
const R_RMDIR: u16 = 4;
const R_MKDIR: u16 = 5;
const R_TRUNC: u16 = 6;
const R_LINK: u16 = 7;
const R_SYMLINK: u16 = 8;
const R_EXEC: u16 = 9;
const R_COPY: u16 = 10;
const R_START: u16 = 11;
const R_PEXEC: u16 = 12;
const R_EXIT: u16 = 13;
const R_BLIND: u16 = 14;
const R_EXECFAIL: u16 = 15;
const R_URING: u16 = 16;
const R_LIBS: u16 = 17;

pub const BLIND_STATIC: i32 = 1;
pub const BLIND_SETUID: i32 = 2;
pub const BLIND_SETGID: i32 = 3;
pub const BLIND_FOREIGN: i32 = 4;

/// One decoded record.
struct Rec<'a> {
    ty: u16,
    pid: i32,
    a: i32,
    b: i32,
    c: i32,
    e: i32,
    d: i64,
    strs: Vec<&'a [u8]>,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_ne_bytes(w)
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    u32_at(b, at) as i32
}

fn parse(rec: &[u8]) -> Option<Rec<'_>> {
    let mut w = [0u8; 2];
    w.copy_from_slice(&rec[8..10]);
    let ty = u16::from_ne_bytes(w);
    w.copy_from_slice(&rec[10..12]);
    let nstr = u16::from_ne_bytes(w);
    let mut d = [0u8; 8];
    d.copy_from_slice(&rec[32..40]);
    let mut strs = Vec::with_capacity(usize::from(nstr));
    let mut at = HDR;
    for _ in 0..nstr {
        if at + 4 > rec.len() {
            return None;
        }
        let n = u32_at(rec, at) as usize;
        at += 4;
        if at + n > rec.len() {
            return None;
        }
        strs.push(&rec[at..at + n]);
        at += n;
    }
    if at != rec.len() {
        return None;
    }
    Some(Rec {
        ty,
        pid: i32_at(rec, 12),
        a: i32_at(rec, 16),
        b: i32_at(rec, 20),
        c: i32_at(rec, 24),
        e: i32_at(rec, 28),
        d: i64::from_ne_bytes(d),
        strs,
    })
}

/// The warning for a binary the shim could not enter.
pub fn blind_warning(kind: i32, path: &[u8]) -> String {
    let why = match kind {
        BLIND_SETUID => "setuid",
        BLIND_SETGID => "setgid",
        BLIND_FOREIGN => "built for another architecture",
        _ => "statically linked",
    };
    format!(
        "preload could not see inside {} ({why}): its file accesses are missing; run it with --tracer ptrace or --tracer ebpf",
        String::from_utf8_lossy(path)
    )
}

struct Blind {
    kind: i32,
    ppid: i32,
    path: RawPath,
    argv: Vec<RawPath>,
}

/// Reads the log from where it stopped and pushes what it finds.
pub struct LogReader {
    file: File,
    /// File offset of `buf[0]`.
    base: u64,
    buf: Vec<u8>,
    /// Bytes below this offset have been released (hole punched).
    punched: u64,
    seen: HashSet<i32>,
    exe: HashMap<i32, RawPath>,
    blind: HashMap<i32, Blind>,
    /// Loader names of shared objects, canonicalised once per job.
    libs: HashMap<Vec<u8>, Option<RawPath>>,
    bad_records: u64,
}

impl LogReader {
    pub fn new(file: File) -> Self {
        LogReader {
            file,
            base: 0,
            buf: Vec::new(),
            punched: 0,
            seen: HashSet::new(),
            exe: HashMap::new(),
            blind: HashMap::new(),
            libs: HashMap::new(),
            bad_records: 0,
        }
    }

    /// A process the collector announced itself (the root).
    pub fn mark_seen(&mut self, pid: i32) {
        self.seen.insert(pid);
    }

    /// Read everything appended so far and push its events. `commit`:
    /// also publish execs of blind binaries still awaiting a possible
    /// failure report (an interval ends, or the job is over).
    pub fn pump(&mut self, sink: &Collector, commit: bool) {
        let mut events = Vec::new();
        let mut chunk = vec![0u8; 1 << 16];
        loop {
            let off = self.base + self.buf.len() as u64;
            match self.file.read_at(&mut chunk, off) {
                Ok(0) => break,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
            self.decode(&mut events);
        }
        self.decode(&mut events);
        if commit {
            let mut pids: Vec<i32> = self.blind.keys().copied().collect();
            pids.sort_unstable();
            for pid in pids {
                self.commit_blind(pid, &mut events);
            }
        }
        if !events.is_empty() {
            sink.push_all(events);
        }
        self.release();
    }

    pub fn bad_records(&self) -> u64 {
        self.bad_records
    }

    fn decode(&mut self, out: &mut Vec<Event>) {
        let mut pos = 0usize;
        let buf = std::mem::take(&mut self.buf);
        while buf.len() - pos >= HDR {
            let magic = u32_at(&buf, pos);
            let len = u32_at(&buf, pos + 4) as usize;
            if magic != MAGIC || !(HDR..=MAX_REC).contains(&len) {
                // A torn record (a write cut short, e.g. disk full):
                // resynchronise on the next magic.
                self.bad_records += 1;
                pos += 1;
                while buf.len() - pos >= 4 && u32_at(&buf, pos) != MAGIC {
                    pos += 1;
                }
                continue;
            }
            if buf.len() - pos < len {
                break; // the rest is still being written
            }
            // A record is followed by the next one's magic (or nothing yet);
            // otherwise it was cut short and its length covers a neighbour.
            let next_ok = buf.len() - pos - len < 4 || u32_at(&buf, pos + len) == MAGIC;
            match parse(&buf[pos..pos + len]).filter(|_| next_ok) {
                Some(r) => self.event(r, out),
                None => {
                    self.bad_records += 1;
                    pos += 1;
                    while buf.len() - pos >= 4 && u32_at(&buf, pos) != MAGIC {
                        pos += 1;
                    }
                    continue;
                }
            }
            pos += len;
        }
        self.base += pos as u64;
        self.buf = buf[pos..].to_vec();
    }

    /// Give consumed log space back (the file keeps its size).
    fn release(&mut self) {
        const STEP: u64 = 1 << 20;
        let upto = self.base & !(STEP - 1);
        if upto > self.punched {
            // SAFETY: fallocate on our own fd; failure is harmless.
            unsafe {
                libc::fallocate(
                    self.file.as_raw_fd(),
                    libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                    self.punched as libc::off_t,
                    (upto - self.punched) as libc::off_t,
                );
            }
            self.punched = upto;
        }
    }

    fn start(&mut self, pid: i32, ppid: i32, out: &mut Vec<Event>) {
        if self.seen.insert(pid) {
            out.push(Event::ProcessStart { pid, ppid });
        }
    }

    fn commit_blind(&mut self, pid: i32, out: &mut Vec<Event>) {
        let Some(b) = self.blind.remove(&pid) else {
            return;
        };
        self.start(pid, b.ppid, out);
        out.push(Event::Warning {
            message: blind_warning(b.kind, b.path.as_bytes()),
        });
        out.push(Event::Exec {
            pid,
            path: b.path.clone(),
        });
        out.push(Event::ProcessExec {
            pid,
            argv: b.argv,
            exe: Some(b.path),
        });
    }

    fn event(&mut self, r: Rec<'_>, out: &mut Vec<Event>) {
        let pid = r.pid;
        if r.ty != R_EXECFAIL && self.blind.contains_key(&pid) {
            // The process is still ours after all, or went on: the exec
            // it announced happened.
            self.commit_blind(pid, out);
        }
        let s = |i: usize| r.strs.get(i).map(|b| RawPath::from(*b));
        let path = |i: usize| s(i).filter(|p| !p.as_bytes().is_empty());
        match r.ty {
            R_OPEN => {
                let Some(p) = path(0) else { return };
                out.push(Event::Open {
                    pid,
                    path: p,
                    flags: OpenFlags::from_raw(r.a),
                    result: i64::from(r.b),
                    existed_before: (r.c >= 0).then_some(r.c == 1),
                    mtime_ns_before: (r.d != MTIME_NONE).then_some(r.d),
                    is_dir: r.e != 0,
                });
            }
            R_RENAME => {
                let (Some(from), Some(to)) = (path(0), path(1)) else {
                    return;
                };
                out.push(Event::Rename {
                    pid,
                    from,
                    to,
                    to_existed_before: r.b != 0,
                    exchange: r.a != 0,
                });
            }
            R_UNLINK | R_RMDIR | R_MKDIR | R_TRUNC | R_LINK | R_SYMLINK | R_EXEC => {
                let Some(p) = path(0) else { return };
                out.push(match r.ty {
                    R_UNLINK => Event::Unlink { pid, path: p },
                    R_RMDIR => Event::Rmdir { pid, path: p },
                    R_MKDIR => Event::Mkdir { pid, path: p },
                    R_TRUNC => Event::Truncate { pid, path: p },
                    R_LINK => Event::Link { pid, to: p },
                    R_SYMLINK => Event::Symlink { pid, to: p },
                    _ => Event::Exec { pid, path: p },
                });
            }
            R_COPY => {
                let (from, to) = (path(0), path(1));
                if from.is_some() || to.is_some() {
                    out.push(Event::CopyRange { pid, from, to });
                }
            }
            R_START => self.start(pid, r.a, out),
            R_PEXEC => {
                self.start(pid, r.a, out);
                let exe = path(0);
                if let Some(e) = &exe {
                    self.exe.insert(pid, e.clone());
                }
                out.push(Event::ProcessExec {
                    pid,
                    argv: r.strs.iter().skip(1).map(|b| RawPath::from(*b)).collect(),
                    exe,
                });
            }
            R_EXIT => out.push(Event::ProcessExit {
                pid,
                exit_code: Some(r.a),
                signal: None,
            }),
            R_BLIND => {
                let Some(p) = path(0) else { return };
                self.blind.insert(
                    pid,
                    Blind {
                        kind: r.a,
                        ppid: r.b,
                        path: p,
                        argv: r.strs.iter().skip(1).map(|b| RawPath::from(*b)).collect(),
                    },
                );
            }
            R_EXECFAIL => {
                self.blind.remove(&pid);
            }
            R_URING => {
                let who = self
                    .exe
                    .get(&pid)
                    .map(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
                    .unwrap_or_else(|| format!("process {pid}"));
                out.push(Event::Warning {
                    message: format!(
                        "{who} used io_uring; file accesses made through it are not seen by the preload tracer (no backend sees them: the program runs as it would untraced)"
                    ),
                });
            }
            R_LIBS => {
                if self.libs.is_empty() {
                    // The loader looked its libraries up in its cache.
                    let cache = RawPath::from("/etc/ld.so.cache");
                    if std::fs::metadata(cache.as_path()).is_ok() {
                        out.push(read_open(pid, cache));
                    }
                }
                for name in &r.strs {
                    let canon = self
                        .libs
                        .entry(name.to_vec())
                        .or_insert_with(|| {
                            let p = std::path::Path::new(std::ffi::OsStr::from_bytes(name));
                            std::fs::canonicalize(p)
                                .ok()
                                .map(|c| RawPath::from(c.as_path()))
                        })
                        .clone();
                    if let Some(c) = canon {
                        out.push(read_open(pid, c));
                    }
                }
            }
            _ => self.bad_records += 1,
        }
    }
}

/// A successful read-only open (of a file the loader mapped).
fn read_open(pid: i32, path: RawPath) -> Event {
    Event::Open {
        pid,
        path,
        flags: OpenFlags::from_raw(libc::O_RDONLY),
        result: 0,
        existed_before: Some(true),
        mtime_ns_before: None,
        is_dir: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as the shim lays it out.
    fn rec(ty: u16, pid: i32, a: i32, strs: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&MAGIC.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(&(strs.len() as u16).to_ne_bytes());
        for x in [pid, a, 0, -1, 0] {
            v.extend_from_slice(&x.to_ne_bytes());
        }
        v.extend_from_slice(&MTIME_NONE.to_ne_bytes());
        for s in strs {
            v.extend_from_slice(&(s.len() as u32).to_ne_bytes());
            v.extend_from_slice(s);
        }
        let len = (v.len() as u32).to_ne_bytes();
        v[4..8].copy_from_slice(&len);
        v
    }

    fn events(bytes: &[u8]) -> (Vec<Event>, u64) {
        let f = tempfile();
        std::fs::write(&f.0, bytes).expect("write");
        let file = File::open(&f.0).expect("open");
        let mut r = LogReader::new(file);
        let c = Collector::new("preload");
        r.pump(&c, true);
        c.finish(Default::default());
        let s = c.wait_timeout(None).expect("summary");
        let mut out = Vec::new();
        for fa in s.files {
            out.push(Event::Truncate {
                pid: 0,
                path: fa.path,
            });
        }
        (out, r.bad_records())
    }

    struct Tmp(std::path::PathBuf);
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    fn tempfile() -> Tmp {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        Tmp(std::env::temp_dir().join(format!(
            "roar-preload-unit-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )))
    }

    fn paths(ev: &[Event]) -> Vec<String> {
        ev.iter()
            .filter_map(|e| match e {
                Event::Truncate { path, .. } => {
                    Some(String::from_utf8_lossy(path.as_bytes()).into_owned())
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn decodes_records_and_resyncs_after_a_torn_one() {
        let mut b = rec(R_OPEN, 1, libc::O_RDONLY, &[b"/a"]);
        let torn = rec(R_OPEN, 1, libc::O_RDONLY, &[b"/torn"]);
        b.extend_from_slice(&torn[..17]); // a write cut short
        b.extend_from_slice(&rec(R_MKDIR, 1, 0, &[b"/b"]));
        b.extend_from_slice(&rec(R_UNLINK, 1, 0, &[b""])); // empty path: ignored
        let (ev, bad) = events(&b);
        assert_eq!(paths(&ev), vec!["/a".to_string(), "/b".to_string()]);
        assert!(bad > 0);
    }

    #[test]
    fn incomplete_tail_waits_for_the_rest() {
        let f = tempfile();
        let full = rec(R_MKDIR, 1, 0, &[b"/late"]);
        std::fs::write(&f.0, &full[..20]).expect("write");
        let mut r = LogReader::new(File::open(&f.0).expect("open"));
        let c = Collector::new("preload");
        r.pump(&c, false);
        assert_eq!(r.base, 0);
        std::fs::write(&f.0, &full).expect("write");
        r.pump(&c, false);
        assert_eq!(r.base, full.len() as u64);
        assert_eq!(r.bad_records(), 0);
    }

    #[test]
    fn blind_exec_is_dropped_when_it_failed() {
        let mut b = rec(R_BLIND, 7, BLIND_STATIC, &[b"/bin/static", b"static"]);
        b.extend_from_slice(&rec(R_EXECFAIL, 7, 0, &[]));
        b.extend_from_slice(&rec(R_BLIND, 8, BLIND_SETUID, &[b"/bin/suid", b"suid"]));
        let f = tempfile();
        std::fs::write(&f.0, &b).expect("write");
        let mut r = LogReader::new(File::open(&f.0).expect("open"));
        let c = Collector::new("preload");
        r.pump(&c, true);
        c.finish(Default::default());
        let s = c.wait_timeout(None).expect("summary");
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        assert!(s.warnings[0].contains("/bin/suid (setuid)"));
        assert!(s.file("/bin/static").is_none());
        assert!(s.file("/bin/suid").is_some_and(|f| f.exec));
    }

    #[test]
    fn flags_decode_like_ptrace() {
        let f = OpenFlags::from_raw(libc::O_RDWR | libc::O_TRUNC | libc::O_CREAT);
        assert!(f.read && f.write && f.truncate && f.create && !f.append);
        let t = OpenFlags::from_raw(libc::O_TMPFILE | libc::O_WRONLY);
        assert!(t.tmpfile && !t.directory);
    }
}
