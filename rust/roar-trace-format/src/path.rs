//! Raw (not necessarily UTF-8) paths and their JSON encoding.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A path as raw bytes, exactly as the kernel reported it.
///
/// JSON encoding: a JSON string. Valid UTF-8 is written as is; every byte of
/// an invalid UTF-8 sequence is written as a lone surrogate escape
/// `\udc80`..`\udcff` (Python's `surrogateescape`), so `json.loads` yields the
/// same `str` that `os.fsdecode(raw_bytes)` gives and `os.fsencode` restores
/// the bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RawPath(pub Vec<u8>);

impl RawPath {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        RawPath(bytes.into())
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    pub fn as_path(&self) -> &Path {
        Path::new(OsStr::from_bytes(&self.0))
    }
    /// True when `self` is strictly below the directory `dir`.
    pub fn is_under(&self, dir: &RawPath) -> bool {
        let d = dir.as_bytes();
        let s = self.as_bytes();
        if d == b"/" {
            return s.len() > 1 && s[0] == b'/';
        }
        s.len() > d.len() + 1 && s.starts_with(d) && s[d.len()] == b'/'
    }
    /// The JSON string literal (with quotes) for this path.
    pub fn json_literal(&self) -> String {
        let mut out = String::with_capacity(self.0.len() + 2);
        out.push('"');
        let mut rest: &[u8] = &self.0;
        while !rest.is_empty() {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    push_escaped(&mut out, s);
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    // from_utf8 succeeded on this prefix, so this cannot fail.
                    push_escaped(&mut out, std::str::from_utf8(good).unwrap_or_default());
                    let n = e.error_len().unwrap_or(bad.len()).max(1);
                    for b in &bad[..n] {
                        out.push_str(&format!("\\u{:04x}", 0xdc00u16 | u16::from(*b)));
                    }
                    rest = &bad[n..];
                }
            }
        }
        out.push('"');
        out
    }
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
}

impl From<&[u8]> for RawPath {
    fn from(b: &[u8]) -> Self {
        RawPath(b.to_vec())
    }
}
impl From<&str> for RawPath {
    fn from(s: &str) -> Self {
        RawPath(s.as_bytes().to_vec())
    }
}
impl From<&Path> for RawPath {
    fn from(p: &Path) -> Self {
        RawPath(p.as_os_str().as_bytes().to_vec())
    }
}

impl fmt::Debug for RawPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

impl Serialize for RawPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(s) => serializer.serialize_str(s),
            Err(_) => {
                let raw = serde_json::value::RawValue::from_string(self.json_literal())
                    .map_err(serde::ser::Error::custom)?;
                raw.serialize(serializer)
            }
        }
    }
}

impl<'de> Deserialize<'de> for RawPath {
    /// Only UTF-8 paths round-trip through Rust's JSON parser (it rejects lone
    /// surrogates); Python, the real consumer, reads every path.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(RawPath(s.into_bytes()))
    }
}

/// Lexically normalise an absolute path: collapse `//`, drop `.`, apply `..`
/// (never above `/`), strip a trailing slash. Symlinks are not consulted.
pub fn normalize_lexically(path: &[u8]) -> RawPath {
    let mut parts: Vec<&[u8]> = Vec::new();
    for comp in path.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = Vec::with_capacity(path.len());
    for p in &parts {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    RawPath(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        assert_eq!(normalize_lexically(b"/a//b/./c/../d/").0, b"/a/b/d");
        assert_eq!(normalize_lexically(b"/../..").0, b"/");
    }

    #[test]
    fn json_surrogateescape() {
        let p = RawPath(b"/tmp/a\xffb\"".to_vec());
        assert_eq!(p.json_literal(), "\"/tmp/a\\udcffb\\\"\"");
        let s = serde_json::to_string(&p).unwrap_or_default();
        assert_eq!(s, "\"/tmp/a\\udcffb\\\"\"");
        let ok = serde_json::to_string(&RawPath::from("/é")).unwrap_or_default();
        assert_eq!(ok, "\"/é\"");
    }

    #[test]
    fn under() {
        assert!(RawPath::from("/a/b").is_under(&RawPath::from("/a")));
        assert!(!RawPath::from("/ab").is_under(&RawPath::from("/a")));
        assert!(!RawPath::from("/a").is_under(&RawPath::from("/a")));
    }
}
