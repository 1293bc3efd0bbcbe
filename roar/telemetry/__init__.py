"""roar's anonymous product telemetry (the seeds' "Product Telemetry"): local counters, an
allowlisted payload, a detached uploader. hook.py is all a command runs; see its docstring for
the opt-outs and the environment variables."""
