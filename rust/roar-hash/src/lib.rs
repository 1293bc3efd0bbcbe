//! Content hashing for roar.
//!
//! roar identifies every file by the hash of its content (BLAKE3 by default,
//! SHA-256 selectable). This crate provides:
//!
//! * [`hash_file`]: hash one file. Small files are read into a reused
//!   per-thread buffer; above [`PARALLEL_THRESHOLD`], BLAKE3 reads and
//!   hashes 1 MiB subtrees of its tree on the rayon thread pool and merges
//!   them (`blake3::hazmat`), SHA-256 reads the next chunk while it hashes
//!   the current one. The fd is `fstat`ed before and after: a file another
//!   process wrote meanwhile is hashed again, and if it keeps changing,
//!   reported as [`ErrorKind::Changed`] rather than given a digest of bytes
//!   it never held.
//! * [`hash_files`]: hash many files in parallel; one result per path, in
//!   order, never failing the batch because of one bad path.
//! * [`hash_bytes`]: hash an in-memory buffer.
//! * [`composite_digest`]: a deterministic digest over `(relative path,
//!   member digest)` pairs (see `README.md` for the exact format).
//!
//! Paths are `Path`s (so arbitrary non-UTF-8 bytes on Unix).
//!
//! Files are never memory-mapped: a mapped file that another process
//! truncates while it is hashed raises `SIGBUS`, which kills the process
//! (`b3sum`'s caveat). `read(2)` just returns fewer bytes.

use std::cell::RefCell;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use rayon::prelude::*;
use sha2::Digest as _;

/// Files (and buffers) strictly larger than this many bytes are hashed
/// multi-threaded (BLAKE3: files in [`PIECE`]-byte subtrees, one rayon task
/// each; SHA-256: reading overlapped with hashing). Smaller files are read
/// whole into a reused per-thread buffer.
pub const PARALLEL_THRESHOLD: u64 = 1 << 20;

/// The BLAKE3 subtree one task reads and hashes (a power of two, at most
/// [`PARALLEL_THRESHOLD`] so a parallel file has at least two).
const PIECE: usize = 1 << 20;

/// The read size when a large file is hashed in order (SHA-256).
const CHUNK: usize = 1 << 20;

/// Reused read buffers larger than this are released after use so one big
/// file does not pin memory in every worker thread.
const MAX_KEPT_BUFFER: usize = 4 << 20;

/// A supported hash algorithm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// BLAKE3, 256-bit output (the default).
    #[default]
    Blake3,
    /// SHA-256.
    Sha256,
}

impl Algorithm {
    /// All algorithms, default first.
    pub const ALL: [Algorithm; 2] = [Algorithm::Blake3, Algorithm::Sha256];

    /// The canonical lowercase name (`"blake3"`, `"sha256"`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Blake3 => "blake3",
            Algorithm::Sha256 => "sha256",
        }
    }

    /// Names of all algorithms, default first.
    pub fn names() -> [&'static str; 2] {
        [Algorithm::Blake3.name(), Algorithm::Sha256.name()]
    }

    /// Parse a canonical name (exact, lowercase).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Incremental hasher over either algorithm.
enum AnyHasher {
    Blake3(Box<blake3::Hasher>),
    Sha256(sha2::Sha256),
}

impl AnyHasher {
    fn new(algo: Algorithm) -> Self {
        match algo {
            Algorithm::Blake3 => AnyHasher::Blake3(Box::new(blake3::Hasher::new())),
            Algorithm::Sha256 => AnyHasher::Sha256(sha2::Sha256::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            AnyHasher::Blake3(h) => {
                h.update(data);
            }
            AnyHasher::Sha256(h) => h.update(data),
        }
    }

    /// Like `update`, but BLAKE3 spreads the work over the rayon pool.
    fn update_parallel(&mut self, data: &[u8]) {
        match self {
            AnyHasher::Blake3(h) => {
                h.update_rayon(data);
            }
            AnyHasher::Sha256(h) => h.update(data),
        }
    }

    fn finalize_hex(self) -> String {
        match self {
            AnyHasher::Blake3(h) => h.finalize().to_hex().to_string(),
            AnyHasher::Sha256(h) => hex::encode(h.finalize()),
        }
    }
}

/// Hash an in-memory buffer; returns the lowercase hex digest.
pub fn hash_bytes(data: &[u8], algo: Algorithm) -> String {
    let mut h = AnyHasher::new(algo);
    if data.len() as u64 > PARALLEL_THRESHOLD {
        h.update_parallel(data);
    } else {
        h.update(data);
    }
    h.finalize_hex()
}

/// The digest of one file plus the metadata from the `fstat` of the fd that
/// was hashed (suitable as a hash-cache key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDigest {
    /// Lowercase hex digest.
    pub hex: String,
    /// Size in bytes (`st_size`).
    pub size: u64,
    /// Device (`st_dev`).
    pub dev: u64,
    /// Inode (`st_ino`).
    pub inode: u64,
    /// Modification time in nanoseconds since the epoch (`st_mtime` ×1e9 +
    /// `st_mtime_nsec`).
    pub mtime_ns: i64,
}

/// Why a file could not be hashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The path does not exist (`ENOENT`).
    Missing,
    /// The path is a directory.
    IsDirectory,
    /// Permission denied (`EACCES`/`EPERM`).
    Permission,
    /// Anything else (I/O error, not a regular file, `ENOTDIR`, ...).
    Other,
    /// Another process kept writing the file while it was hashed (its size,
    /// mtime or ctime changed during each attempt): no digest is of its
    /// content at one moment.
    Changed,
}

/// An error hashing one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashError {
    /// Classification.
    pub kind: ErrorKind,
    /// The OS error number, when there is one (`EISDIR` for directories).
    pub errno: Option<i32>,
    /// Human-readable description (without the path).
    pub message: String,
}

impl HashError {
    fn from_io(e: &io::Error) -> Self {
        let errno = e.raw_os_error();
        let kind = match errno {
            Some(libc::ENOENT) => ErrorKind::Missing,
            Some(libc::EISDIR) => ErrorKind::IsDirectory,
            Some(libc::EACCES) | Some(libc::EPERM) => ErrorKind::Permission,
            _ => match e.kind() {
                io::ErrorKind::NotFound => ErrorKind::Missing,
                io::ErrorKind::PermissionDenied => ErrorKind::Permission,
                _ => ErrorKind::Other,
            },
        };
        HashError {
            kind,
            errno,
            message: strip_os_suffix(&e.to_string()),
        }
    }

    fn directory() -> Self {
        HashError {
            kind: ErrorKind::IsDirectory,
            errno: Some(libc::EISDIR),
            message: "Is a directory".to_owned(),
        }
    }

    fn changed() -> Self {
        HashError {
            kind: ErrorKind::Changed,
            errno: None,
            message: "changed while hashing".to_owned(),
        }
    }

    fn not_regular(what: &str) -> Self {
        HashError {
            kind: ErrorKind::Other,
            errno: None,
            message: format!("not a regular file ({what})"),
        }
    }
}

/// `io::Error`'s Display appends " (os error N)"; drop it for a cleaner message.
fn strip_os_suffix(s: &str) -> String {
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_owned(),
        _ => s.to_owned(),
    }
}

impl fmt::Display for HashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HashError {}

thread_local! {
    static READ_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static PIECE_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn file_type_name(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_char_device() {
        "character device"
    } else if ft.is_block_device() {
        "block device"
    } else {
        "special file"
    }
}

/// How many times [`hash_file`] hashes a file whose `(size, mtime, ctime)`
/// changed while it was being read before it gives up with
/// [`ErrorKind::Changed`].
const ATTEMPTS: usize = 2;

/// What one `fstat` says about the content: if any of these differ between
/// before and after a read, the bytes read may not be the file's content at
/// any one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        Stamp {
            size: meta.size(),
            mtime_ns: meta
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.mtime_nsec()),
            ctime_ns: meta
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.ctime_nsec()),
        }
    }
}

/// Hash one file.
///
/// The file is opened once (with `O_NONBLOCK`, so a FIFO cannot hang us) and
/// only regular files are hashed. The content is read with `read`/`pread`
/// (never memory-mapped: a mapped file that another process truncates raises
/// `SIGBUS`, which would kill the whole process). Files larger than
/// [`PARALLEL_THRESHOLD`] are hashed multi-threaded (see the crate docs);
/// smaller ones are read into a per-thread reused buffer.
///
/// The fd is `fstat`ed before and after the read. If the size, mtime or
/// ctime changed, or the read did not return exactly `size` bytes, another
/// process wrote the file meanwhile and the digest may be of bytes that
/// never were its content: the file is hashed once more, and if it changes
/// again the result is [`ErrorKind::Changed`], never a digest.
pub fn hash_file(path: &Path, algo: Algorithm) -> Result<FileDigest, HashError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| HashError::from_io(&e))?;
    let meta = file.metadata().map_err(|e| HashError::from_io(&e))?;
    let ft = meta.file_type();
    if ft.is_dir() {
        return Err(HashError::directory());
    }
    if !ft.is_file() {
        return Err(HashError::not_regular(file_type_name(ft)));
    }
    let mut meta = meta;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            (&file)
                .seek(SeekFrom::Start(0))
                .map_err(|e| HashError::from_io(&e))?;
        }
        let before = Stamp::of(&meta);
        let hex = hash_content(&file, before.size, algo)?;
        let after_meta = file.metadata().map_err(|e| HashError::from_io(&e))?;
        if let Some(hex) = hex {
            if Stamp::of(&after_meta) == before {
                return Ok(FileDigest {
                    hex,
                    size: before.size,
                    dev: meta.dev(),
                    inode: meta.ino(),
                    mtime_ns: before.mtime_ns,
                });
            }
        }
        meta = after_meta;
    }
    Err(HashError::changed())
}

/// The digest of exactly `size` bytes read from the start of `file`, or
/// `None` when the file did not have `size` bytes (it shrank or grew).
fn hash_content(file: &File, size: u64, algo: Algorithm) -> Result<Option<String>, HashError> {
    if size <= PARALLEL_THRESHOLD {
        hash_read(file, size, algo)
    } else if algo == Algorithm::Blake3 {
        hash_blake3_pieces(file, size)
    } else {
        hash_pipelined(file, size, algo)
    }
}

/// Fill `buf` from `file` at `offset`; the number of bytes read (less than
/// `buf.len()` only at end of file).
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Whether `file` has a byte at `size` (it grew since its `fstat`).
fn has_more(file: &File, size: u64) -> Result<bool, HashError> {
    let mut byte = [0u8; 1];
    let n = read_full_at(file, &mut byte, size).map_err(|e| HashError::from_io(&e))?;
    Ok(n != 0)
}

/// A large file, BLAKE3: the file is cut into [`PIECE`]-byte subtrees of the
/// BLAKE3 tree; each is read (`pread`) and hashed by its own rayon task into
/// a per-thread buffer that stays in cache, then the chaining values are
/// merged as BLAKE3's tree merges them. Reading and hashing are spread over
/// all threads, with no mapping and no serial copy.
fn hash_blake3_pieces(file: &File, size: u64) -> Result<Option<String>, HashError> {
    use blake3::hazmat::HasherExt as _;
    use blake3::hazmat::{merge_subtrees_non_root, merge_subtrees_root, ChainingValue, Mode};

    let pieces = usize::try_from(size.div_ceil(PIECE as u64)).map_err(|_| HashError {
        kind: ErrorKind::Other,
        errno: None,
        message: "file too large".to_owned(),
    })?;
    if pieces < 2 {
        return hash_pipelined(file, size, Algorithm::Blake3); // the root is a single subtree
    }
    let cvs = (0..pieces)
        .into_par_iter()
        .with_max_len(1)
        .map(|i| -> Result<Option<ChainingValue>, HashError> {
            let offset = i as u64 * PIECE as u64;
            let len = (size - offset).min(PIECE as u64) as usize;
            with_piece_buffer(|buf| {
                let n = read_full_at(file, &mut buf[..len], offset)
                    .map_err(|e| HashError::from_io(&e))?;
                if n < len {
                    return Ok(None); // shrank
                }
                let mut h = blake3::Hasher::new();
                h.set_input_offset(offset);
                h.update(&buf[..len]);
                Ok(Some(h.finalize_non_root()))
            })
        })
        .collect::<Result<Option<Vec<ChainingValue>>, HashError>>()?;
    let Some(cvs) = cvs else {
        return Ok(None);
    };
    if has_more(file, size)? {
        return Ok(None); // grew
    }

    // BLAKE3's tree: the left subtree holds the largest power of two of
    // pieces that leaves at least one byte to the right.
    fn split(n: usize) -> usize {
        let mut left = 1;
        while left * 2 < n {
            left *= 2;
        }
        left
    }
    fn subtree(cvs: &[ChainingValue]) -> ChainingValue {
        if cvs.len() == 1 {
            return cvs[0];
        }
        let (l, r) = cvs.split_at(split(cvs.len()));
        merge_subtrees_non_root(&subtree(l), &subtree(r), Mode::Hash)
    }
    let (l, r) = cvs.split_at(split(cvs.len()));
    let root = merge_subtrees_root(&subtree(l), &subtree(r), Mode::Hash);
    Ok(Some(root.to_hex().to_string()))
}

/// Run `f` with this thread's [`PIECE`]-byte buffer.
fn with_piece_buffer<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
    PIECE_BUF.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.resize(PIECE, 0);
            f(&mut buf)
        }
        // Cannot happen (f makes no rayon call that could run another piece
        // here), but never panic.
        Err(_) => f(&mut vec![0u8; PIECE]),
    })
}

/// A large file hashed in order (SHA-256, or BLAKE3 in one piece): the next
/// [`CHUNK`] is read on one rayon thread while the hasher consumes the
/// current one on another, so the copy costs no time on two or more cores.
fn hash_pipelined(file: &File, size: u64, algo: Algorithm) -> Result<Option<String>, HashError> {
    let chunk = usize::try_from(size.min(CHUNK as u64)).unwrap_or(CHUNK);
    let (mut current, mut next) = (vec![0u8; chunk], vec![0u8; chunk]);
    let want = |offset: u64| (size - offset).min(chunk as u64) as usize;
    let mut h = AnyHasher::new(algo);
    let mut offset = 0u64;
    let mut len = want(0);
    if read_full_at(file, &mut current[..len], 0).map_err(|e| HashError::from_io(&e))? < len {
        return Ok(None); // shrank
    }
    while len > 0 {
        let after = offset + len as u64;
        let next_len = if after < size { want(after) } else { 0 };
        let (read, ()) = rayon::join(
            || read_full_at(file, &mut next[..next_len], after),
            || h.update(&current[..len]),
        );
        if read.map_err(|e| HashError::from_io(&e))? < next_len {
            return Ok(None); // shrank
        }
        std::mem::swap(&mut current, &mut next);
        offset = after;
        len = next_len;
    }
    if has_more(file, size)? {
        return Ok(None); // grew
    }
    Ok(Some(h.finalize_hex()))
}

fn hash_read(file: &File, size: u64, algo: Algorithm) -> Result<Option<String>, HashError> {
    READ_BUF.with(|cell| {
        // A re-entrant borrow cannot happen (no callbacks), but never panic:
        // fall back to a fresh buffer if it somehow does.
        let mut fresh = Vec::new();
        let mut guard = cell.try_borrow_mut().ok();
        let buf: &mut Vec<u8> = match guard.as_deref_mut() {
            Some(b) => b,
            None => &mut fresh,
        };
        buf.clear();
        // +1 so the read that finds EOF (or a file that grew) does not have
        // to grow the buffer.
        buf.reserve(size as usize + 1);
        let res = file.take(size + 1).read_to_end(buf);
        let out = match res {
            Ok(n) if n as u64 == size => {
                let mut h = AnyHasher::new(algo);
                h.update(buf);
                Ok(Some(h.finalize_hex()))
            }
            Ok(_) => Ok(None), // shrank or grew
            Err(e) => Err(HashError::from_io(&e)),
        };
        if buf.capacity() > MAX_KEPT_BUFFER {
            *buf = Vec::new();
        } else {
            buf.clear();
        }
        out
    })
}

/// Hash many files in parallel on the rayon pool.
///
/// Returns one result per input path, in input order. An error for one path
/// never affects the others.
pub fn hash_files<P>(paths: &[P], algo: Algorithm) -> Vec<Result<FileDigest, HashError>>
where
    P: AsRef<Path> + Sync,
{
    paths
        .par_iter()
        .with_max_len(1)
        .map(|p| hash_file(p.as_ref(), algo))
        .collect()
}

/// Why a composite digest could not be computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompositeError {
    /// A member path contains a NUL byte (index of the member).
    NulInPath(usize),
    /// A member digest is empty or not lowercase hex (index of the member).
    BadDigest(usize),
}

impl fmt::Display for CompositeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompositeError::NulInPath(i) => write!(f, "member {i}: path contains a NUL byte"),
            CompositeError::BadDigest(i) => {
                write!(f, "member {i}: digest must be non-empty lowercase hex")
            }
        }
    }
}

impl std::error::Error for CompositeError {}

/// Deterministic digest of a set of `(relative_path, member_digest)` pairs.
///
/// Members are sorted by path bytes (then by digest, so duplicates are
/// deterministic too); for each, the line `path \0 digest \n` is fed to a
/// hasher of `algo`; the result is its lowercase hex digest. Paths must not
/// contain NUL and digests must be non-empty lowercase hex, which makes the
/// encoding unambiguous. See `README.md`.
pub fn composite_digest<P, D>(members: &[(P, D)], algo: Algorithm) -> Result<String, CompositeError>
where
    P: AsRef<[u8]>,
    D: AsRef<str>,
{
    let mut order: Vec<(&[u8], &str)> = Vec::with_capacity(members.len());
    for (i, (p, d)) in members.iter().enumerate() {
        let p = p.as_ref();
        let d = d.as_ref();
        if p.contains(&0) {
            return Err(CompositeError::NulInPath(i));
        }
        if d.is_empty()
            || !d
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(CompositeError::BadDigest(i));
        }
        order.push((p, d));
    }
    order.sort_unstable();
    let mut h = AnyHasher::new(algo);
    for (p, d) in order {
        h.update(p);
        h.update(b"\0");
        h.update(d.as_bytes());
        h.update(b"\n");
    }
    Ok(h.finalize_hex())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;

    const EMPTY_B3: &str = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";
    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn write(dir: &Path, name: &str, data: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        File::create(&p).unwrap().write_all(data).unwrap();
        p
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn names_roundtrip() {
        for a in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(a.name()), Some(a));
        }
        assert_eq!(Algorithm::from_name("md5"), None);
        assert_eq!(Algorithm::default(), Algorithm::Blake3);
    }

    #[test]
    fn empty_vectors() {
        assert_eq!(hash_bytes(b"", Algorithm::Blake3), EMPTY_B3);
        assert_eq!(hash_bytes(b"", Algorithm::Sha256), EMPTY_SHA256);
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "empty", b"");
        let d = hash_file(&p, Algorithm::Blake3).unwrap();
        assert_eq!(d.hex, EMPTY_B3);
        assert_eq!(d.size, 0);
    }

    #[test]
    fn file_matches_bytes_small_and_large() {
        let dir = tempfile::tempdir().unwrap();
        for n in [
            1usize,
            1023,
            1024,
            1025,
            1 << 20,
            (1 << 20) + 1,
            2 * PIECE - 1,
            2 * PIECE,
            3 * PIECE + 1,
            4 * PIECE,
            5 * PIECE + 7,
            8 * PIECE + 12345,
            11 * PIECE + 3,
        ] {
            let data = pattern(n);
            let p = write(dir.path(), &format!("f{n}"), &data);
            for a in Algorithm::ALL {
                let d = hash_file(&p, a).unwrap();
                assert_eq!(d.size, n as u64);
                let expect = match a {
                    Algorithm::Blake3 => blake3::hash(&data).to_hex().to_string(),
                    Algorithm::Sha256 => hex::encode(sha2::Sha256::digest(&data)),
                };
                assert_eq!(d.hex, expect, "size {n} algo {a}");
                assert_eq!(hash_bytes(&data, a), expect);
            }
        }
    }

    #[test]
    fn metadata_from_fstat() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "m", b"hello");
        let d = hash_file(&p, Algorithm::Blake3).unwrap();
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!(d.dev, m.dev());
        assert_eq!(d.inode, m.ino());
        assert_eq!(d.mtime_ns, m.mtime() * 1_000_000_000 + m.mtime_nsec());
    }

    #[test]
    fn batch_errors_are_per_entry() {
        let dir = tempfile::tempdir().unwrap();
        let ok = write(dir.path(), "ok", b"x");
        let missing = dir.path().join("missing");
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let notdir = ok.join("child");
        let r = hash_files(&[&ok, &missing, &sub, &notdir, &ok], Algorithm::Blake3);
        assert_eq!(r.len(), 5);
        assert!(r[0].is_ok());
        assert_eq!(r[1].as_ref().unwrap_err().kind, ErrorKind::Missing);
        assert_eq!(r[2].as_ref().unwrap_err().kind, ErrorKind::IsDirectory);
        assert_eq!(r[3].as_ref().unwrap_err().kind, ErrorKind::Other);
        assert_eq!(r[4], r[0]);
    }

    #[test]
    fn fifo_is_rejected_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fifo");
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = hash_file(&p, Algorithm::Blake3).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Other);
    }

    #[test]
    fn non_utf8_name() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9\xff.bin");
        let p = dir.path().join(name);
        File::create(&p).unwrap().write_all(b"abc").unwrap();
        let d = hash_file(&p, Algorithm::Blake3).unwrap();
        assert_eq!(d.hex, blake3::hash(b"abc").to_hex().to_string());
    }

    #[test]
    fn many_files_match_single() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<_> = (0..500)
            .map(|i| write(dir.path(), &format!("s{i}"), &pattern(i * 37)))
            .collect();
        let batch = hash_files(&paths, Algorithm::Blake3);
        for (p, r) in paths.iter().zip(batch) {
            assert_eq!(r.unwrap(), hash_file(p, Algorithm::Blake3).unwrap());
        }
    }

    /// Another thread truncates the file and appends it again, 1 MiB at a
    /// time, in a loop: at every moment its content is a prefix of `data`.
    /// Hashing it (the old memory-mapped path died of SIGBUS here) must
    /// give either the digest of the prefix of the size it reports, or
    /// `Changed`; never a crash, never a digest of bytes it did not hold.
    #[test]
    fn concurrent_truncation_gives_a_consistent_digest_or_changed() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        const MIB: usize = 1 << 20;
        const PIECES: usize = 48;
        let dir = tempfile::tempdir().unwrap();
        let data = pattern(PIECES * MIB);
        let p = write(dir.path(), "moving", &data);
        // The digest of every prefix the file can have.
        let mut prefixes = std::collections::HashMap::new();
        let (mut b3, mut sha) = (blake3::Hasher::new(), sha2::Sha256::new());
        for k in 0..=PIECES {
            let size = (k * MIB) as u64;
            prefixes.insert(
                (Algorithm::Blake3, size),
                b3.finalize().to_hex().to_string(),
            );
            prefixes.insert(
                (Algorithm::Sha256, size),
                hex::encode(sha.clone().finalize()),
            );
            if k < PIECES {
                b3.update(&data[k * MIB..(k + 1) * MIB]);
                sha.update(&data[k * MIB..(k + 1) * MIB]);
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (p, data, stop) = (p.clone(), data.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
                let mut rounds = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    f.set_len(0).unwrap();
                    f.rewind().unwrap();
                    for piece in data.chunks(MIB) {
                        f.write_all(piece).unwrap();
                    }
                    rounds += 1;
                }
                rounds
            })
        };
        let (mut digests, mut changed) = (0, 0);
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_secs(3) || digests + changed < 20 {
            for a in Algorithm::ALL {
                match hash_file(&p, a) {
                    Ok(d) => {
                        // A write may end between pages: any prefix is a content the file had.
                        let size = usize::try_from(d.size).unwrap();
                        assert!(size <= data.len(), "{a}: size {size}");
                        let expect = match prefixes.get(&(a, d.size)) {
                            Some(hex) => hex.clone(),
                            None => hash_bytes(&data[..size], a),
                        };
                        assert_eq!(d.hex, expect, "{a}: size {size}");
                        digests += 1;
                    }
                    Err(e) => {
                        assert_eq!(e.kind, ErrorKind::Changed, "{e}");
                        changed += 1;
                    }
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        let rounds = writer.join().unwrap();
        assert!(rounds > 2, "the writer barely ran ({rounds} rounds)");
        assert!(changed > 0, "never saw the file change ({digests} digests)");
        // Once the writer stops, the file hashes normally.
        let d = hash_file(&p, Algorithm::Blake3).unwrap();
        assert_eq!(d.hex, prefixes[&(Algorithm::Blake3, data.len() as u64)]);
    }

    #[test]
    fn a_file_that_grew_or_shrank_since_fstat_is_not_hashed_as_its_old_size() {
        // What hash_content sees when the size it was given is stale.
        let dir = tempfile::tempdir().unwrap();
        for n in [1000usize, 3 << 20] {
            let p = write(dir.path(), &format!("g{n}"), &pattern(n));
            let f = File::open(&p).unwrap();
            for a in Algorithm::ALL {
                for stale in [n as u64 - 1, n as u64 + 1] {
                    (&f).seek(SeekFrom::Start(0)).unwrap();
                    assert_eq!(hash_content(&f, stale, a).unwrap(), None, "{a} {n}");
                }
                (&f).seek(SeekFrom::Start(0)).unwrap();
                let d = hash_content(&f, n as u64, a).unwrap();
                assert_eq!(d, Some(hash_bytes(&pattern(n), a)), "{a} {n}");
            }
        }
    }

    #[test]
    fn composite_properties() {
        let a = ("a/x", blake3::hash(b"1").to_hex().to_string());
        let b = ("b", blake3::hash(b"2").to_hex().to_string());
        let d1 = composite_digest(&[a.clone(), b.clone()], Algorithm::Blake3).unwrap();
        let d2 = composite_digest(&[b.clone(), a.clone()], Algorithm::Blake3).unwrap();
        assert_eq!(d1, d2);
        // Exact format.
        let text = format!("a/x\0{}\nb\0{}\n", a.1, b.1);
        assert_eq!(d1, blake3::hash(text.as_bytes()).to_hex().to_string());
        let renamed = composite_digest(&[("a/y", a.1.clone()), b.clone()], Algorithm::Blake3);
        assert_ne!(d1, renamed.unwrap());
        let changed = composite_digest(&[(a.0, b.1.clone()), b.clone()], Algorithm::Blake3);
        assert_ne!(d1, changed.unwrap());
        let empty: [(&str, &str); 0] = [];
        assert_eq!(
            composite_digest(&empty, Algorithm::Blake3).unwrap(),
            EMPTY_B3
        );
        assert_eq!(
            composite_digest(&[("a\0b", "00")], Algorithm::Blake3),
            Err(CompositeError::NulInPath(0))
        );
        assert_eq!(
            composite_digest(&[("a", "AB")], Algorithm::Blake3),
            Err(CompositeError::BadDigest(0))
        );
    }
}
