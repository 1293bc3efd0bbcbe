//! Reading the tracee's memory.

const MAX_PATH: usize = 4096;
const PAGE: u64 = 4096;

/// Read a NUL-terminated string (at most PATH_MAX bytes) from `tid`'s memory.
pub fn read_cstr(tid: i32, addr: u64) -> Option<Vec<u8>> {
    if addr == 0 {
        return None;
    }
    let mut out = Vec::new();
    let mut a = addr;
    let mut buf = [0u8; PAGE as usize];
    while out.len() <= MAX_PATH {
        // Never cross a page boundary: the next page may be unmapped.
        let chunk = (PAGE - (a % PAGE)) as usize;
        let n = read_mem(tid, a, &mut buf[..chunk]);
        if n == 0 {
            return read_cstr_peek(tid, a, out);
        }
        if let Some(i) = buf[..n].iter().position(|b| *b == 0) {
            out.extend_from_slice(&buf[..i]);
            return Some(out);
        }
        out.extend_from_slice(&buf[..n]);
        a += n as u64;
    }
    None
}

/// process_vm_readv; returns bytes read (0 on failure).
pub fn read_mem(tid: i32, addr: u64, buf: &mut [u8]) -> usize {
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: `local` describes `buf`, which is valid for writes of its
    // length; the remote address is only dereferenced by the kernel.
    let n = unsafe { libc::process_vm_readv(tid, &local, 1, &remote, 1, 0) };
    if n < 0 {
        0
    } else {
        n as usize
    }
}

/// PTRACE_PEEKDATA fallback (e.g. when process_vm_readv is filtered).
fn read_cstr_peek(tid: i32, mut a: u64, mut out: Vec<u8>) -> Option<Vec<u8>> {
    while out.len() <= MAX_PATH {
        // SAFETY: errno is thread-local; PEEKDATA returns the word or -1 with
        // errno set, so errno must be cleared first.
        let word = unsafe {
            *libc::__errno_location() = 0;
            libc::ptrace(
                libc::PTRACE_PEEKDATA,
                tid,
                a as *mut libc::c_void,
                std::ptr::null_mut::<libc::c_void>(),
            )
        };
        // SAFETY: reading thread-local errno.
        if word == -1 && unsafe { *libc::__errno_location() } != 0 {
            return None;
        }
        for b in word.to_ne_bytes() {
            if b == 0 {
                return Some(out);
            }
            out.push(b);
        }
        a += 8;
    }
    None
}

/// Read a u64 from tracee memory (e.g. `open_how.flags`).
pub fn read_u64(tid: i32, addr: u64) -> Option<u64> {
    let mut b = [0u8; 8];
    if read_mem(tid, addr, &mut b) == 8 {
        Some(u64::from_ne_bytes(b))
    } else {
        None
    }
}
