//! Keep idle CPUs from halting while a job is traced.
//!
//! Every ptrace stop hands the CPU from the tracee to the tracer and back. On
//! a virtual machine whose idle vCPUs halt (no guest halt-polling), each
//! handoff that finds the other vCPU idle pays a VM exit and an IPI wake-up,
//! which measured ~45 µs per stop here — three times the untraced cost of
//! the small-files workload. A PM QoS CPU latency request of 0 µs
//! (`/dev/cpu_dma_latency`, the interface tuned's latency profiles use)
//! makes idle CPUs poll instead, and stops cost a few µs. The request lives
//! exactly as long as the file descriptor: it is dropped when the trace ends,
//! even if the process dies, so nothing on the host changes permanently.
//! Only root can make it; elsewhere tracing just runs without it. Set
//! `ROAR_PTRACE_LOW_LATENCY=0` to opt out (idle CPUs spin while a job runs).

use std::fs::OpenOptions;
use std::io::Write;

/// Held for the duration of a trace; dropping it releases the request.
pub struct LatencyRequest {
    _file: Option<std::fs::File>,
}

impl LatencyRequest {
    pub fn acquire() -> Self {
        if std::env::var_os("ROAR_PTRACE_LOW_LATENCY").is_some_and(|v| v == "0") {
            return LatencyRequest { _file: None };
        }
        let file = OpenOptions::new()
            .write(true)
            .open("/dev/cpu_dma_latency")
            .and_then(|mut f| f.write_all(&0i32.to_ne_bytes()).map(|()| f))
            .ok();
        LatencyRequest { _file: file }
    }
}
