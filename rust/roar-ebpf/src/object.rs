//! The compiled BPF object (`build.rs` compiles `bpf/roar.bpf.c`).

#[cfg(roar_ebpf)]
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(env!("ROAR_EBPF_OBJECT"));

#[cfg(not(roar_ebpf))]
pub static OBJECT: &[u8] = &[];

/// Why this build has no eBPF (set by build.rs), if it has none.
pub fn missing() -> Option<&'static str> {
    option_env!("ROAR_EBPF_MISSING")
}
