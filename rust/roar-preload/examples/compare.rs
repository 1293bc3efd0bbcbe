//! `cargo run -p roar-preload --example compare -- CMD ARGS...`: run CMD
//! under ptrace and under preload and print the per-path differences.

use std::collections::BTreeMap;

/// The common letters plus `/` for a directory.
fn flags(f: &roar_trace_format::FileAccess) -> String {
    let mut letters = f.letters();
    if f.is_dir {
        letters.push('/');
    }
    letters
}

fn table(s: &roar_trace_format::Summary) -> BTreeMap<String, String> {
    s.files
        .iter()
        .map(|f| {
            (
                String::from_utf8_lossy(f.path.as_bytes()).into_owned(),
                flags(f),
            )
        })
        .collect()
}

fn main() {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let cfg = roar_preload::SpawnConfig::new(argv);
    let t = std::time::Instant::now();
    let p = roar_ptrace::spawn(&cfg).expect("ptrace").wait();
    let tp = t.elapsed();
    let t = std::time::Instant::now();
    let l = roar_preload::spawn(&cfg).expect("preload").wait();
    let tl = t.elapsed();
    let (a, b) = (table(&p), table(&l));
    let mut same = 0;
    for k in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
        match (a.get(k), b.get(k)) {
            (Some(x), Some(y)) if x == y => same += 1,
            (x, y) => println!(
                "{k}: ptrace={} preload={}",
                x.map(String::as_str).unwrap_or("-"),
                y.map(String::as_str).unwrap_or("-")
            ),
        }
    }
    println!(
        "{same} paths agree; exit {} / {}; renames {} / {}; warnings {:?}",
        p.exit_code,
        l.exit_code,
        p.renames.len(),
        l.renames.len(),
        l.warnings
    );
    println!(
        "ptrace {:.3}s  preload {:.3}s",
        tp.as_secs_f64(),
        tl.as_secs_f64()
    );
}
