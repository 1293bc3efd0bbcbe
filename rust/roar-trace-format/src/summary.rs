//! The summary document (format version 1).

use serde::{Deserialize, Serialize};

use crate::path::RawPath;

pub const FORMAT_NAME: &str = "roar-access-summary";
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileAccess {
    pub path: RawPath,
    pub read: bool,
    pub write: bool,
    pub create: bool,
    pub delete: bool,
    pub exec: bool,
    pub dir_list: bool,
    pub is_dir: bool,
    pub mtime_ns_before: Option<i64>,
}

impl FileAccess {
    /// What happened to the path as letters, in this order: `r`ead, `w`rite,
    /// `c`reate, `d`elete, e`x`ec, directory `l`isting (the same letters the
    /// Python tests use). Empty when nothing but `is_dir` is set.
    pub fn letters(&self) -> String {
        [
            (self.read, 'r'),
            (self.write, 'w'),
            (self.create, 'c'),
            (self.delete, 'd'),
            (self.exec, 'x'),
            (self.dir_list, 'l'),
        ]
        .iter()
        .filter_map(|&(on, c)| on.then_some(c))
        .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rename {
    pub from: RawPath,
    pub to: RawPath,
    pub exchange: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    pub pid: i32,
    pub ppid: Option<i32>,
    pub argv: Vec<RawPath>,
    pub exe: Option<RawPath>,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<i32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Times the traced tree stopped for the tracer (0 for stop-free backends).
    pub stops: u64,
    /// Events fed to the summarizer.
    pub events: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub format: String,
    pub version: u32,
    pub backend: String,
    pub root_pid: i32,
    /// The root's exit status, or 128 + signal when a signal killed it;
    /// `-1` when it was not observed (`exit_known` is then false).
    pub exit_code: i32,
    /// False when the backend did not see the root end (the trace was cut
    /// short before it did, or recovered without it).
    #[serde(default = "yes")]
    pub exit_known: bool,
    pub exit_signal: Option<i32>,
    /// Why the command could not be started (exit_code is then 127 or 126).
    pub exec_error: Option<String>,
    pub start_ns: u64,
    pub end_ns: u64,
    pub files: Vec<FileAccess>,
    pub renames: Vec<Rename>,
    pub processes: Vec<ProcessInfo>,
    pub warnings: Vec<String>,
    pub stats: Stats,
    /// Why this summary does not cover the whole run — the trace ended
    /// before the traced tree did (its later accesses are missing), or it
    /// was recovered after the process that started it died. Null when it
    /// covers everything the tree did.
    #[serde(default)]
    pub incomplete: Option<String>,
}

fn yes() -> bool {
    true
}

impl Summary {
    pub fn to_json(&self) -> String {
        // Serialising plain data to a String cannot fail; keep a fallback anyway.
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(
                "{{\"format\":\"{FORMAT_NAME}\",\"version\":{FORMAT_VERSION},\"error\":{:?}}}",
                e.to_string()
            )
        })
    }

    pub fn file(&self, path: &str) -> Option<&FileAccess> {
        self.files
            .iter()
            .find(|f| f.path.as_bytes() == path.as_bytes())
    }

    /// [`FileAccess::letters`] of `path`, or `-` when the summary does not
    /// mention it.
    pub fn letters_of(&self, path: &str) -> String {
        self.file(path)
            .map_or_else(|| "-".to_string(), FileAccess::letters)
    }

    /// `(relative path, letters)` for every path under `dir` with at least
    /// one letter, in path order: a whole summary in one comparable value.
    pub fn letters_under(&self, dir: &std::path::Path) -> Vec<(String, String)> {
        let prefix = format!("{}/", dir.display());
        self.files
            .iter()
            .filter_map(|f| {
                let path = String::from_utf8_lossy(f.path.as_bytes());
                let rel = path.strip_prefix(&prefix)?.to_string();
                let letters = f.letters();
                (!letters.is_empty()).then_some((rel, letters))
            })
            .collect()
    }
}
