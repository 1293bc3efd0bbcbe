"""Tracing from Python: choosing a backend (``selection``), checking the host (``preflight``),
running a command under it (``run``), the eBPF loader service (``ebpf_service``) and
long-lived intervals (``intervals``). The backends themselves live in ``rust/``."""
