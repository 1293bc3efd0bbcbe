//! The records the BPF programs emit (`bpf/roar_events.h`, mirrored here)
//! and their decoding into [`Event`]s, done by the client.
//!
//! A record is a 56-byte header and up to four variable-length sections
//! (see the header file). Paths arrive as *walks*: the components of a
//! dentry walk, leaf first, each NUL-terminated.

use std::os::unix::ffi::OsStringExt;

use roar_trace_format::{normalize_lexically, Event, OpenFlags, RawPath};

pub const EV_OPEN: u16 = 1;
pub const EV_RENAME: u16 = 2;
pub const EV_UNLINK: u16 = 3;
pub const EV_RMDIR: u16 = 4;
pub const EV_MKDIR: u16 = 5;
pub const EV_LINK: u16 = 6;
pub const EV_SYMLINK: u16 = 7;
pub const EV_TRUNCATE: u16 = 8;
pub const EV_FTRUNCATE: u16 = 9;
pub const EV_COPY: u16 = 10;
pub const EV_EXEC: u16 = 11;
pub const EV_FORK: u16 = 12;
pub const EV_EXIT: u16 = 13;
pub const EV_DONE: u16 = 14;
pub const EV_IOURING: u16 = 15;

const SEC_NONE: u16 = 0xffff;
pub const HDR_LEN: usize = 56;

const TGT_EXISTS: u32 = 1;
const FMODE_CREATED: u32 = 0x10_0000;
const RENAME_EXCHANGE: u32 = 2;

/// The warning for a run whose io_uring accesses were not seen.
pub const IO_URING_WARNING: &str = "io_uring_setup was called: file accesses made through io_uring are invisible to the eBPF tracer";

/// `struct roar_ev`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Header {
    pub kind: u16,
    pub job: u32,
    pub pid: u32,
    pub tid: u32,
    pub ret: i64,
    pub a: [u32; 4],
    pub x0: i64,
    pub sec: [u16; 4],
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_ne_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn i64_at(b: &[u8], o: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    i64::from_ne_bytes(a)
}

impl Header {
    pub fn parse(b: &[u8]) -> Option<Header> {
        if b.len() < HDR_LEN {
            return None;
        }
        Some(Header {
            kind: u16_at(b, 0),
            job: u32_at(b, 4),
            pid: u32_at(b, 8),
            tid: u32_at(b, 12),
            ret: i64_at(b, 16),
            a: [u32_at(b, 24), u32_at(b, 28), u32_at(b, 32), u32_at(b, 36)],
            x0: i64_at(b, 40),
            sec: [u16_at(b, 48), u16_at(b, 50), u16_at(b, 52), u16_at(b, 54)],
        })
    }
}

/// A record split into its header and sections.
pub struct Record<'a> {
    pub h: Header,
    pub sec: [Option<&'a [u8]>; 4],
}

impl<'a> Record<'a> {
    pub fn parse(b: &'a [u8]) -> Option<Record<'a>> {
        let h = Header::parse(b)?;
        let mut sec = [None; 4];
        let mut off = HDR_LEN;
        for (i, len) in h.sec.iter().enumerate() {
            if *len == SEC_NONE {
                continue;
            }
            let end = off + usize::from(*len);
            sec[i] = Some(b.get(off..end)?);
            off = end;
        }
        Some(Record { h, sec })
    }
}

/// A walk section (components leaf first, NUL-terminated) as an absolute path.
pub fn walk_path(w: &[u8]) -> RawPath {
    let comps: Vec<&[u8]> = w.split(|c| *c == 0).filter(|c| !c.is_empty()).collect();
    let mut out = Vec::with_capacity(w.len() + 1);
    for c in comps.iter().rev() {
        out.push(b'/');
        out.extend_from_slice(c);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    RawPath(out)
}

fn join(base: &RawPath, rel: &[u8]) -> Vec<u8> {
    let mut j = base.0.clone();
    if !rel.is_empty() {
        if j.last() != Some(&b'/') {
            j.push(b'/');
        }
        j.extend_from_slice(rel);
    }
    j
}

fn canonical(p: &[u8]) -> Option<RawPath> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::fs::canonicalize(std::ffi::OsStr::from_bytes(p)).ok()?;
    Some(RawPath(c.into_os_string().into_vec()))
}

/// A name operand (`raw` as given, relative to the walked `base` unless
/// absolute): lexically normalised, the parent directory canonicalised
/// (symlinks resolved), the final component kept as named — the rule of the
/// ptrace backend's `resolve::name`. A single component relative to its
/// base needs no file-system access (the base is canonical already).
pub fn name_path(raw: &[u8], base: Option<&[u8]>) -> Option<RawPath> {
    let simple = !raw.is_empty() && !raw.contains(&b'/') && raw != b"." && raw != b"..";
    let joined = if raw.first() == Some(&b'/') {
        raw.to_vec()
    } else {
        let base = walk_path(base?);
        if simple {
            return Some(RawPath(join(&base, raw)));
        }
        join(&base, raw)
    };
    let p = normalize_lexically(&joined);
    let pp = p.as_path();
    let (Some(parent), Some(file)) = (pp.parent(), pp.file_name()) else {
        return Some(p);
    };
    use std::os::unix::ffi::OsStrExt;
    match canonical(parent.as_os_str().as_bytes()) {
        Some(mut c) => {
            if c.0.last() != Some(&b'/') {
                c.0.push(b'/');
            }
            c.0.extend_from_slice(file.as_bytes());
            Some(c)
        }
        None => Some(p),
    }
}

/// Fully resolved (truncate(path), a script's name): canonical, else as a name.
pub fn followed_path(raw: &[u8], base: Option<&[u8]>) -> Option<RawPath> {
    let joined = if raw.first() == Some(&b'/') {
        raw.to_vec()
    } else {
        join(&walk_path(base?), raw)
    };
    canonical(&joined).or_else(|| name_path(raw, base))
}

fn argv(b: &[u8]) -> Vec<RawPath> {
    let b = b.strip_suffix(&[0]).unwrap_or(b);
    if b.is_empty() {
        return Vec::new();
    }
    b.split(|c| *c == 0).map(RawPath::from).collect()
}

/// The events one record stands for (none for records that carry nothing
/// the summary needs).
pub fn decode(r: &Record<'_>, out: &mut Vec<Event>) {
    let h = &r.h;
    let pid = h.pid as i32;
    let s = &r.sec;
    match h.kind {
        EV_OPEN => {
            let Some(w) = s[0] else { return };
            let flags = OpenFlags::from_raw(h.a[0] as i32);
            let created = h.a[1] & FMODE_CREATED != 0;
            let is_dir = h.a[2] & libc::S_IFMT == libc::S_IFDIR;
            let mtime = (flags.write && !flags.truncate && !created).then_some(h.x0);
            out.push(Event::Open {
                pid,
                path: walk_path(w),
                flags,
                result: h.ret,
                existed_before: Some(!(flags.create && created)),
                mtime_ns_before: mtime,
                is_dir,
            });
        }
        EV_RENAME => {
            let (Some(from), Some(to)) = (
                s[0].and_then(|raw| name_path(raw, s[1])),
                s[2].and_then(|raw| name_path(raw, s[3])),
            ) else {
                return;
            };
            out.push(Event::Rename {
                pid,
                from,
                to,
                to_existed_before: h.a[1] == TGT_EXISTS,
                exchange: h.a[0] & RENAME_EXCHANGE != 0,
            });
        }
        EV_UNLINK | EV_RMDIR | EV_MKDIR | EV_LINK | EV_SYMLINK => {
            let Some(path) = s[0].and_then(|raw| name_path(raw, s[1])) else {
                return;
            };
            out.push(match h.kind {
                EV_UNLINK => Event::Unlink { pid, path },
                EV_RMDIR => Event::Rmdir { pid, path },
                EV_MKDIR => Event::Mkdir { pid, path },
                EV_LINK => Event::Link { pid, to: path },
                _ => Event::Symlink { pid, to: path },
            });
        }
        EV_TRUNCATE => {
            if let Some(path) = s[0].and_then(|raw| followed_path(raw, s[1])) {
                out.push(Event::Truncate { pid, path });
            }
        }
        EV_FTRUNCATE => {
            if let Some(w) = s[0] {
                out.push(Event::Truncate {
                    pid,
                    path: walk_path(w),
                });
            }
        }
        EV_COPY => out.push(Event::CopyRange {
            pid,
            from: s[0].map(walk_path),
            to: s[1].map(walk_path),
        }),
        EV_EXEC => {
            let exe = s[0].map(walk_path);
            // A script: the name it was run by (the binary run is its
            // interpreter). `/dev/fd/N` (execveat of an fd) cannot be
            // resolved from here: only the interpreter is recorded.
            let named = s[1]
                .filter(|f| !f.starts_with(b"/dev/fd/"))
                .and_then(|f| followed_path(f, s[2]));
            if let Some(n) = &named {
                out.push(Event::Exec {
                    pid,
                    path: n.clone(),
                });
            }
            if let Some(e) = &exe {
                if named.as_ref() != Some(e) {
                    out.push(Event::Exec {
                        pid,
                        path: e.clone(),
                    });
                }
            }
            out.push(Event::ProcessExec {
                pid,
                argv: s[3].map(argv).unwrap_or_default(),
                exe,
            });
        }
        EV_FORK => out.push(Event::ProcessStart {
            pid: h.a[0] as i32,
            ppid: h.a[1] as i32,
        }),
        EV_EXIT => {
            let code = h.a[0] as i32;
            let sig = code & 0x7f;
            out.push(Event::ProcessExit {
                pid,
                exit_code: (sig == 0).then_some((code >> 8) & 0xff),
                signal: (sig != 0).then_some(sig),
            });
        }
        EV_IOURING if h.ret >= 0 => out.push(Event::Warning {
            message: IO_URING_WARNING.to_string(),
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks() {
        assert_eq!(walk_path(b"c\0b\0a\0").0, b"/a/b/c");
        assert_eq!(walk_path(b"").0, b"/");
    }

    #[test]
    fn names() {
        let base = b"sub\0tmp\0";
        assert_eq!(
            name_path(b"x", Some(base)).map(|p| p.0),
            Some(b"/tmp/sub/x".to_vec())
        );
        // No such parent: lexical.
        assert_eq!(
            name_path(b"/nonexistent-roar/./a/../b", None).map(|p| p.0),
            Some(b"/nonexistent-roar/b".to_vec())
        );
        assert_eq!(name_path(b"x", None), None);
    }

    #[test]
    fn record_sections() {
        let mut b = vec![0u8; HDR_LEN];
        b[0] = EV_UNLINK as u8;
        b[48..50].copy_from_slice(&1u16.to_ne_bytes());
        b[50..52].copy_from_slice(&4u16.to_ne_bytes());
        b[52..54].copy_from_slice(&SEC_NONE.to_ne_bytes());
        b[54..56].copy_from_slice(&SEC_NONE.to_ne_bytes());
        b.extend_from_slice(b"xtmp\0");
        let r = Record::parse(&b[..HDR_LEN + 5]).expect("parse");
        assert_eq!(r.sec[0], Some(&b"x"[..]));
        assert_eq!(r.sec[1], Some(&b"tmp\0"[..]));
        let mut ev = Vec::new();
        decode(&r, &mut ev);
        assert_eq!(
            ev,
            vec![Event::Unlink {
                pid: 0,
                path: RawPath::from("/tmp/x")
            }]
        );
    }
}
