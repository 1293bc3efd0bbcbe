//! `cargo run -p roar-preload --example trace -- CMD ARGS...`: run CMD
//! under the preload backend and print the access summary as JSON (and
//! the wall time on stderr).

fn main() {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if argv.is_empty() {
        eprintln!("usage: trace CMD [ARGS...]");
        std::process::exit(2);
    }
    let t = std::time::Instant::now();
    let job = match roar_preload::spawn(&roar_preload::SpawnConfig::new(argv)) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("trace: {e}");
            std::process::exit(1);
        }
    };
    let s = job.wait();
    let wall = t.elapsed();
    println!("{}", s.to_json());
    eprintln!(
        "trace: exit {} in {:.3}s, {} events",
        s.exit_code,
        wall.as_secs_f64(),
        s.stats.events
    );
    std::process::exit(s.exit_code);
}
