//! The protocol between the loader service and a client, over a Unix
//! stream socket. Every message is a frame: `u32` length (native endian,
//! counting the type byte and payload), a type byte, the payload.
//!
//! | dir | type | payload |
//! | --- | --- | --- |
//! | c→s | `START` | `u32` [`MAGIC`], `u16` version length, version bytes, `i32` pid, optionally `u16` token length + token (a recovery token) |
//! | c→s | `ATTACH` | as `START` (no token): trace the *running* process pid (all its threads) and its future descendants |
//! | c→s | `FLUSH` | `u64` sequence number |
//! | c→s | `DETACH` | empty: stop tracing after sending what was recorded so far (a `START` job: its tree runs on untraced) |
//! | c→s | `BYE` | empty: the client has the job's summary safe; the service may forget the job's records |
//! | c→s | `CLAIM` | `u32` [`MAGIC`], `u16` version length, version bytes, `u16` token length, token, `u8` mode ([`CLAIM_PEEK`], [`CLAIM_WAIT`], [`CLAIM_FORGET`]) |
//! | s→c | `ACK` | `u32` job id (the pid is traced; release it); for `CLAIM` also `i32` the job's root pid |
//! | s→c | `ERR` | UTF-8 message (the job was refused, or no such job to claim) |
//! | s→c | `EVENTS` | records: each `u32` length + the ring record verbatim |
//! | s→c | `FLUSHED` | `u64` sequence: every record before the flush was sent |
//! | s→c | `DONE` | `u64` records dropped for this job: its last task exited, or it was detached; then `u64` the job's end (ns since the epoch) |
//! | s→c | `PENDING` | empty: the claimed job still runs (`CLAIM_PEEK`/`CLAIM_FORGET`) |
//!
//! The first frame is `START`, `ATTACH` or `CLAIM`, answered by `ACK` or
//! `ERR` (or `PENDING`). A `START` job ends with `DONE` when its last task
//! exits; an `ATTACH` job only when the client sends `DETACH` (then `DONE`
//! follows every record of what the tree did before the request) or closes
//! the socket. The client closing its socket cancels its job — unless it
//! is a `START` job with a recovery token: then the service keeps tracing
//! it and holds its records (all of them, from the start) for a later
//! client's `CLAIM` of that token, which receives every record, then
//! `DONE` when the job has ended. A claimed (or finished) job's records
//! are held until its client says `BYE` (or for [`HOLD_SECS`] after its
//! client went away without it).
//!
//! [`PROTOCOL`] is part of [`crate::version`]: a change to this table bumps
//! it, so a build with another table has another socket
//! ([`crate::socket_path`]) and its own service, and a service of another
//! build refuses a client that reaches it anyway.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

pub const MAGIC: u32 = 0x524f_4152; // "ROAR"

/// The wire protocol's revision (2: `ATTACH`, `DETACH`; 3: recovery
/// tokens, `BYE`, `CLAIM`, `PENDING`).
pub const PROTOCOL: u32 = 3;

/// How long the records of a job whose client went away are held for a
/// claim after the job ended.
pub const HOLD_SECS: u64 = 24 * 3600;

/// `CLAIM` modes: answer `PENDING` if the job still runs, else send it.
pub const CLAIM_PEEK: u8 = 0;
/// Send what was recorded, then follow the job until it ends.
pub const CLAIM_WAIT: u8 = 1;
/// Forget a job that has ended (its summary was kept elsewhere); `DONE`.
pub const CLAIM_FORGET: u8 = 2;

pub const START: u8 = 1;
pub const FLUSH: u8 = 2;
pub const ATTACH: u8 = 3;
pub const DETACH: u8 = 4;
pub const BYE: u8 = 5;
pub const CLAIM: u8 = 6;
pub const ACK: u8 = 10;
pub const ERR: u8 = 11;
pub const EVENTS: u8 = 12;
pub const FLUSHED: u8 = 13;
pub const DONE: u8 = 14;
pub const PENDING: u8 = 15;

/// Largest frame accepted (a batch of records is split below this).
pub const MAX_FRAME: usize = 16 << 20;

/// Writes to a socket with `MSG_NOSIGNAL`: a peer that went away is an
/// `EPIPE` error, never a SIGPIPE for the host process (which may not
/// ignore it).
pub struct NoSigPipe<'a>(pub &'a UnixStream);

impl Write for NoSigPipe<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            // SAFETY: send(2) reads at most buf.len() bytes from buf.
            let n = unsafe {
                libc::send(
                    self.0.as_raw_fd(),
                    buf.as_ptr() as *const libc::c_void,
                    buf.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// [`write_frame`] to a socket, without SIGPIPE.
pub fn send_frame(s: &UnixStream, ty: u8, payload: &[u8]) -> io::Result<()> {
    write_frame(&mut NoSigPipe(s), ty, payload)
}

pub fn write_frame(w: &mut impl Write, ty: u8, payload: &[u8]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(5 + payload.len());
    buf.extend_from_slice(&((payload.len() + 1) as u32).to_ne_bytes());
    buf.push(ty);
    buf.extend_from_slice(payload);
    w.write_all(&buf)
}

pub fn read_frame(r: &mut impl Read) -> io::Result<(u8, Vec<u8>)> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_ne_bytes(len) as usize;
    if len == 0 || len > MAX_FRAME + 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad frame length {len}"),
        ));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)?;
    let ty = buf[0];
    buf.remove(0);
    Ok((ty, buf))
}

pub fn start_payload(version: &str, pid: i32) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&MAGIC.to_ne_bytes());
    put_str(&mut p, version.as_bytes());
    p.extend_from_slice(&pid.to_ne_bytes());
    p
}

/// A `START` payload carrying a recovery token.
pub fn start_payload_with_token(version: &str, pid: i32, token: &str) -> Vec<u8> {
    let mut p = start_payload(version, pid);
    put_str(&mut p, token.as_bytes());
    p
}

fn put_str(p: &mut Vec<u8>, s: &[u8]) {
    p.extend_from_slice(&(s.len().min(usize::from(u16::MAX)) as u16).to_ne_bytes());
    p.extend_from_slice(&s[..s.len().min(usize::from(u16::MAX))]);
}

/// A `u16`-length-prefixed string at `at`; `(bytes, next offset)`.
fn get_str(p: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let n = usize::from(u16::from_ne_bytes(p.get(at..at + 2)?.try_into().ok()?));
    Some((p.get(at + 2..at + 2 + n)?, at + 2 + n))
}

fn magic_ok(p: &[u8]) -> bool {
    p.get(0..4)
        .and_then(|m| m.try_into().ok())
        .map(u32::from_ne_bytes)
        == Some(MAGIC)
}

/// `(version, pid)` of a START payload.
pub fn parse_start(p: &[u8]) -> Option<(String, i32)> {
    parse_start_token(p).map(|(v, pid, _)| (v, pid))
}

/// `(version, pid, recovery token)` of a START payload.
pub fn parse_start_token(p: &[u8]) -> Option<(String, i32, Option<String>)> {
    if !magic_ok(p) {
        return None;
    }
    let (v, at) = get_str(p, 4)?;
    let pid = i32::from_ne_bytes(p.get(at..at + 4)?.try_into().ok()?);
    let token = get_str(p, at + 4).map(|(t, _)| String::from_utf8_lossy(t).into_owned());
    Some((String::from_utf8_lossy(v).into_owned(), pid, token))
}

pub fn claim_payload(version: &str, token: &str, mode: u8) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&MAGIC.to_ne_bytes());
    put_str(&mut p, version.as_bytes());
    put_str(&mut p, token.as_bytes());
    p.push(mode);
    p
}

/// `(version, token, mode)` of a CLAIM payload.
pub fn parse_claim(p: &[u8]) -> Option<(String, String, u8)> {
    if !magic_ok(p) {
        return None;
    }
    let (v, at) = get_str(p, 4)?;
    let (t, at) = get_str(p, at)?;
    let mode = *p.get(at)?;
    Some((
        String::from_utf8_lossy(v).into_owned(),
        String::from_utf8_lossy(t).into_owned(),
        mode,
    ))
}

pub fn u64_payload(v: u64) -> [u8; 8] {
    v.to_ne_bytes()
}

pub fn parse_u64(p: &[u8]) -> Option<u64> {
    Some(u64::from_ne_bytes(p.get(0..8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        write_frame(&mut buf, START, &start_payload("v1", 42)).expect("write");
        write_frame(&mut buf, FLUSHED, &u64_payload(7)).expect("write");
        let mut r = &buf[..];
        let (t, p) = read_frame(&mut r).expect("read");
        assert_eq!(t, START);
        assert_eq!(parse_start(&p), Some(("v1".to_string(), 42)));
        let (t, p) = read_frame(&mut r).expect("read");
        assert_eq!((t, parse_u64(&p)), (FLUSHED, Some(7)));
    }

    #[test]
    fn tokens_and_claims() {
        let p = start_payload_with_token("v1", 42, "123-9");
        assert_eq!(
            parse_start_token(&p),
            Some(("v1".to_string(), 42, Some("123-9".to_string())))
        );
        assert_eq!(parse_start(&p), Some(("v1".to_string(), 42)));
        assert_eq!(
            parse_start_token(&start_payload("v1", 7)),
            Some(("v1".to_string(), 7, None))
        );
        let c = claim_payload("v1", "123-9", CLAIM_WAIT);
        assert_eq!(
            parse_claim(&c),
            Some(("v1".to_string(), "123-9".to_string(), CLAIM_WAIT))
        );
        assert_eq!(parse_claim(&c[..c.len() - 1]), None);
    }
}
