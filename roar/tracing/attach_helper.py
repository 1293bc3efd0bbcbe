"""The ptrace tracer of an attached trace, as its own process.

ptrace cannot trace the caller's own threads, so ``roar._native.attach_traced(pid, "ptrace")``
starts ``python -m roar.tracing.attach_helper <pid>`` and talks to it in lines:

* the helper prints ``attached`` once every thread of ``pid`` is traced, or
  ``error <errno> <message>`` and exits 1;
* on a line ``detach`` on its stdin (or EOF: the caller went away) it detaches from every
  tracee, prints the access summary JSON as one line and exits 0.

The work is ``roar._native.ptrace_attach_serve`` (rust/roar-ptrace, attach mode).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("error 0 usage: python -m roar.tracing.attach_helper <pid>", flush=True)
        return 2
    try:
        import roar._native as native

        native.ptrace_attach_serve(int(args[0]))
    except OSError as exc:
        print(f"error {exc.errno or 0} {exc.strerror or exc}", flush=True)
        return 1
    except (RuntimeError, ValueError, ImportError) as exc:
        print(f"error 0 {exc}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
