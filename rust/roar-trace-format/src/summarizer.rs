//! Folds an ordered event stream into a [`Summary`]: the one place where
//! accesses are classified.

use std::collections::BTreeMap;

use crate::event::{Event, OpenFlags};
use crate::path::RawPath;
use crate::summary::{
    FileAccess, ProcessInfo, Rename, Stats, Summary, FORMAT_NAME, FORMAT_VERSION,
};

/// Facts about the run that are not events.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    pub root_pid: i32,
    pub exit_code: i32,
    pub exit_signal: Option<i32>,
    pub exec_error: Option<String>,
    pub start_ns: u64,
    pub end_ns: u64,
    pub stops: u64,
    /// The root's exit status was not observed (`exit_code` is then
    /// meaningless; the summary says `exit_known: false`, `exit_code: -1`).
    pub exit_unknown: bool,
    /// Why the trace does not cover the whole run (see [`Summary::incomplete`]).
    pub incomplete: Option<String>,
}

#[derive(Debug, Default)]
pub struct Summarizer {
    backend: String,
    files: BTreeMap<RawPath, FileAccess>,
    renames: Vec<Rename>,
    processes: BTreeMap<i32, ProcessInfo>,
    warnings: Vec<String>,
    events: u64,
}

impl Summarizer {
    pub fn new(backend: &str) -> Self {
        Summarizer {
            backend: backend.to_string(),
            ..Default::default()
        }
    }

    fn entry(&mut self, path: &RawPath) -> &mut FileAccess {
        self.files
            .entry(path.clone())
            .or_insert_with(|| FileAccess {
                path: path.clone(),
                ..Default::default()
            })
    }

    pub fn warn(&mut self, message: impl Into<String>) {
        let m = message.into();
        if !self.warnings.contains(&m) {
            self.warnings.push(m);
        }
    }

    pub fn push(&mut self, ev: Event) {
        self.events += 1;
        match ev {
            Event::Open {
                path,
                flags,
                result,
                existed_before,
                mtime_ns_before,
                is_dir,
                ..
            } => self.open(
                &path,
                flags,
                result,
                existed_before,
                mtime_ns_before,
                is_dir,
            ),
            Event::Rename {
                from,
                to,
                to_existed_before,
                exchange,
                ..
            } => self.rename(from, to, to_existed_before, exchange),
            Event::Unlink { path, .. } => self.entry(&path).delete = true,
            Event::Rmdir { path, .. } => {
                let e = self.entry(&path);
                e.delete = true;
                e.is_dir = true;
            }
            Event::Mkdir { path, .. } => {
                let e = self.entry(&path);
                bring_into_existence(e);
                e.is_dir = true;
            }
            Event::Truncate { path, .. } => self.entry(&path).write = true,
            Event::Link { to, .. } => {
                let e = self.entry(&to);
                bring_into_existence(e);
                e.write = true;
            }
            Event::Symlink { to, .. } => bring_into_existence(self.entry(&to)),
            Event::Exec { path, .. } => self.entry(&path).exec = true,
            Event::Chdir { .. } => {}
            Event::CopyRange { from, to, .. } => {
                if let Some(f) = from {
                    read_existing(self.entry(&f));
                }
                if let Some(t) = to {
                    self.entry(&t).write = true;
                }
            }
            Event::DirList { path, .. } => {
                let e = self.entry(&path);
                e.dir_list = true;
                e.is_dir = true;
            }
            Event::ProcessStart { pid, ppid } => {
                let p = self.process(pid);
                p.ppid = Some(ppid);
            }
            Event::ProcessExec { pid, argv, exe } => {
                let p = self.process(pid);
                p.argv = argv;
                p.exe = exe;
            }
            Event::ProcessExit {
                pid,
                exit_code,
                signal,
            } => {
                let p = self.process(pid);
                p.exit_code = exit_code;
                p.exit_signal = signal;
            }
            Event::Warning { message } => self.warn(message),
        }
    }

    fn process(&mut self, pid: i32) -> &mut ProcessInfo {
        self.processes.entry(pid).or_insert_with(|| ProcessInfo {
            pid,
            ..Default::default()
        })
    }

    fn open(
        &mut self,
        path: &RawPath,
        flags: OpenFlags,
        result: i64,
        existed_before: Option<bool>,
        mtime_ns_before: Option<i64>,
        is_dir: bool,
    ) {
        if result < 0 || flags.path_only || flags.tmpfile {
            return;
        }
        let e = self.entry(path);
        if is_dir || flags.directory {
            e.is_dir = true;
            if !flags.write {
                e.dir_list = true;
            }
            return;
        }
        if !flags.write && !flags.truncate {
            read_existing(e);
            return;
        }
        let is_new = flags.create && existed_before == Some(false);
        if is_new {
            bring_into_existence(e);
        } else if !flags.truncate {
            // In-place update of existing content: the old bytes may matter.
            if flags.read || flags.append {
                read_existing(e);
            }
            if !e.write && !e.create && e.mtime_ns_before.is_none() {
                e.mtime_ns_before = mtime_ns_before;
            }
        }
        e.write = true;
    }

    fn rename(&mut self, from: RawPath, to: RawPath, to_existed: bool, exchange: bool) {
        self.renames.push(Rename {
            from: from.clone(),
            to: to.clone(),
            exchange,
        });
        if from == to {
            return;
        }
        if exchange {
            // Both names stay, each now holding the other's content: both
            // are written; what each name was (read, created) stays with it.
            self.entry(&from).write = true;
            self.entry(&to).write = true;
            return;
        }
        let src = self.files.remove(&from).unwrap_or_default();
        {
            let t = self.entry(&to);
            if !to_existed {
                bring_into_existence(t);
            }
            t.delete = false;
            t.write = true;
            t.is_dir |= src.is_dir;
        }
        if !src.create {
            // It existed before the job: the old name is gone.
            let mut s = src;
            s.path = from.clone();
            s.write = false;
            s.delete = true;
            self.files.insert(from.clone(), s);
        }
        // A renamed directory moves what the job produced below it.
        let moved: Vec<RawPath> = self
            .files
            .iter()
            .filter(|(k, v)| k.is_under(&from) && (v.write || v.create))
            .map(|(k, _)| k.clone())
            .collect();
        for old in moved {
            if let Some(mut v) = self.files.remove(&old) {
                let mut new = to.0.clone();
                new.extend_from_slice(&old.0[from.0.len()..]);
                let new = RawPath(new);
                v.path = new.clone();
                let t = self.entry(&new);
                t.write |= v.write;
                t.create |= v.create;
                t.is_dir |= v.is_dir;
            }
        }
    }

    /// The summary. Call it when the traced tree has exited: it checks the
    /// filesystem once (see [`Summarizer::verify_deletes`]).
    pub fn finish(mut self, run: RunInfo) -> Summary {
        self.verify_deletes();
        Summary {
            format: FORMAT_NAME.to_string(),
            version: FORMAT_VERSION,
            backend: self.backend,
            root_pid: run.root_pid,
            exit_code: if run.exit_unknown { -1 } else { run.exit_code },
            exit_known: !run.exit_unknown,
            exit_signal: if run.exit_unknown {
                None
            } else {
                run.exit_signal
            },
            incomplete: run.incomplete,
            exec_error: run.exec_error,
            start_ns: run.start_ns,
            end_ns: run.end_ns,
            files: self.files.into_values().collect(),
            renames: self.renames,
            processes: self.processes.into_values().collect(),
            warnings: self.warnings,
            stats: Stats {
                stops: run.stops,
                events: self.events,
            },
        }
    }
}

impl Summarizer {
    /// `delete` means the path is gone at the end (README). Backends may
    /// report unlink/rmdir when the call is made rather than when it
    /// succeeded (ptrace does, to save a stop per call); a removal that
    /// failed (ENOTEMPTY, EACCES, EBUSY…) leaves the path in place. So a
    /// path flagged `delete` that still exists (`lstat`) when the summary is
    /// finished is not deleted: the flag is cleared, and an entry left with
    /// no access at all (only the failed removal) is dropped. (A path the
    /// job re-created through an event has no `delete` already.)
    fn verify_deletes(&mut self) {
        let mut drop = Vec::new();
        for (k, f) in self.files.iter_mut() {
            if f.delete && std::fs::symlink_metadata(f.path.as_path()).is_ok() {
                f.delete = false;
                if !(f.read || f.write || f.create || f.exec || f.dir_list) {
                    drop.push(k.clone());
                }
            }
        }
        for k in drop {
            self.files.remove(&k);
        }
    }
}

/// A read counts as an input only while the content is still the one that
/// existed before the job touched the path.
fn read_existing(e: &mut FileAccess) {
    if !e.write && !e.create && !e.delete {
        e.read = true;
    }
}

/// The job made the name exist. It is a `create` unless the name existed
/// before the job (which an earlier access to its old content proves).
fn bring_into_existence(e: &mut FileAccess) {
    let pre_existed =
        !e.create && (e.read || e.write || e.delete || e.exec || e.mtime_ns_before.is_some());
    if !pre_existed {
        e.create = true;
    }
    e.delete = false;
}
