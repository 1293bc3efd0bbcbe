//! Is a program one the shim cannot enter (static, setuid/setgid, foreign
//! architecture)? The same test the shim makes at each exec, for the
//! command itself.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use crate::log::{BLIND_FOREIGN, BLIND_SETGID, BLIND_SETUID, BLIND_STATIC};

const PT_INTERP: u32 = 3;
const ET_DYN: u16 = 3;
#[cfg(target_arch = "x86_64")]
const MY_MACHINE: u16 = 62;
#[cfg(target_arch = "aarch64")]
const MY_MACHINE: u16 = 183;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const MY_MACHINE: u16 = 0;

fn nosuid(f: &File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: statvfs is plain data, written by the call.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a live fd and a live local.
    let r = unsafe { libc::fstatvfs(f.as_raw_fd(), &mut st) };
    r == 0 && st.f_flag & libc::ST_NOSUID != 0
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(w)
}

/// The `BLIND_*` kind of `path`, or `None` when the shim will load in it.
pub fn blind_kind(path: &Path) -> Option<i32> {
    kind(path, 0)
}

fn kind(path: &Path, depth: u32) -> Option<i32> {
    let mut f = File::open(path).ok()?;
    let meta = f.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    if depth == 0 && !nosuid(&f) {
        // SAFETY: getuid/getgid have no preconditions.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        if meta.mode() & libc::S_ISUID != 0 && meta.uid() != uid {
            return Some(BLIND_SETUID);
        }
        if meta.mode() & libc::S_ISGID != 0 && meta.gid() != gid {
            return Some(BLIND_SETGID);
        }
    }
    let mut h = [0u8; 256];
    let mut n = 0;
    while n < h.len() {
        match f.read(&mut h[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return None,
        }
    }
    let h = &h[..n];
    if h.starts_with(b"#!") {
        if depth >= 2 {
            return None;
        }
        let line = h[2..].split(|b| *b == b'\n').next().unwrap_or_default();
        let interp = line
            .split(|b| *b == b' ' || *b == b'\t')
            .find(|t| !t.is_empty())?;
        if interp.first() != Some(&b'/') {
            return None;
        }
        use std::os::unix::ffi::OsStrExt;
        return kind(Path::new(std::ffi::OsStr::from_bytes(interp)), depth + 1);
    }
    if h.len() < 64 || &h[..4] != b"\x7fELF" {
        return None;
    }
    if h[4] != 2 || u16_at(h, 18) != MY_MACHINE {
        return Some(BLIND_FOREIGN);
    }
    let e_type = u16_at(h, 16);
    let phoff = u64_at(h, 32);
    let phentsize = usize::from(u16_at(h, 54));
    let phnum = usize::from(u16_at(h, 56));
    if phentsize != 56 || phnum == 0 || phnum > 64 {
        return None;
    }
    let mut ph = vec![0u8; phnum * phentsize];
    f.read_exact_at(&mut ph, phoff).ok()?;
    let has_interp = (0..phnum).any(|i| u32_at(&ph, i * phentsize) == PT_INTERP);
    if has_interp {
        return None;
    }
    let base = path
        .file_name()
        .map(|b| b.to_string_lossy().into_owned())
        .unwrap_or_default();
    let loader = e_type == ET_DYN
        && (base.starts_with("ld-linux")
            || base.starts_with("ld.so")
            || base.starts_with("ld64.so"));
    (!loader).then_some(BLIND_STATIC)
}
