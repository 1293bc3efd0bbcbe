"""The roar kernel: IPython's kernel, recording every executed cell as a job of kind ``cell``.

Started by ``roar_kernel.launcher`` under a native tracer in long-lived mode (or, failing
that, with Python audit hooks). A cell is recorded when the front end runs it for the user:
silent executions and ones kept out of history (front ends inspecting variables, completing,
starting widgets) are kernel housekeeping, and so are cells of nothing but `%roar` magics.
"""

from __future__ import annotations

import inspect
import os
import select
import signal
import threading
from typing import Any

from ipykernel.ipkernel import IPythonKernel
from ipykernel.kernelapp import IPKernelApp

from roar import __version__
from roar_kernel.launcher import FALLBACK_ENV, LAUNCHER_ENV
from roar_kernel.recording import RecordingClient
from roar_kernel.session import CellSession, only_roar_magics
from roar_kernel.tracers import AuditHookTracer, CellTracer, NativeIntervals


class RoarKernel(IPythonKernel):
    implementation = "roar_kernel"
    implementation_version = __version__
    banner = "Python (roar): every cell you run is recorded as a roar job."

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        tracer, fallback = _cell_tracer()
        shell: Any = self.shell
        self.cells = CellSession(shell, tracer, RecordingClient.from_environment())
        self._fallback = fallback
        shell.extension_manager.load_extension("roar_kernel")
        _exit_with_launcher()
        signal.signal(signal.SIGTERM, self._terminated)

    async def do_execute(  # type: ignore[override]
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: dict | None = None,
        allow_stdin: bool = False,
        *,
        cell_meta: dict | None = None,
        cell_id: str | None = None,
    ) -> dict:
        run = super().do_execute(
            code,
            silent,
            store_history,
            user_expressions,
            allow_stdin,
            cell_meta=cell_meta,
            cell_id=cell_id,
        )
        if silent or not store_history or only_roar_magics(code):
            return await run
        if self._fallback:
            self.cells.tell(
                f"roar: no native tracer can run here ({self._fallback}); recording cells with "
                "Python audit hooks, which miss files that C libraries and subprocesses touch. "
                "Run `roar tracer` to see why each backend is not ready.",
                once="fallback",
            )
        self.cells.start(code, cell_id=cell_id)
        reply: dict = {}
        try:
            reply = await run
        finally:
            self.cells.finish(execution_count=reply.get("execution_count"), error=_error_of(reply))
        return reply

    async def do_shutdown(self, restart: bool) -> dict:  # type: ignore[override]
        self.cells.flush()  # the last cells reach the store before the kernel goes
        reply = super().do_shutdown(restart)  # sync in ipykernel 7's IPythonKernel, async in base
        return await reply if inspect.isawaitable(reply) else reply

    def _terminated(self, signum: int, _frame: object) -> None:
        """SIGTERM (from the launcher once the client has gone, or a client's kill): hand the
        last cell over to the launcher, which writes what is queued, then exit at once as
        ipykernel's parent poller does. A cell still running is not recorded."""
        handover = self.cells.handover
        if handover is not None:
            handover.settle()
        os._exit(128 + signum)


def _cell_tracer() -> tuple[CellTracer, str | None]:
    native = NativeIntervals.from_environment()
    if native is not None:
        return native, None
    why = os.environ.get(FALLBACK_ENV) or "the kernel was not started by the roar kernelspec"
    return AuditHookTracer(), why


def _error_of(reply: dict) -> tuple[str, str] | None:
    if reply.get("status") == "error":
        return str(reply.get("ename", "Error")), str(reply.get("evalue", ""))
    if reply.get("status") == "aborted":
        return "Aborted", "the execution was aborted"
    return None


def _exit_with_launcher() -> None:
    """Exit if the launcher dies, even by SIGKILL (it is not always our direct parent)."""
    pid = int(os.environ.get(LAUNCHER_ENV) or 0)
    if not pid or not hasattr(os, "pidfd_open"):
        return
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return

    def wait() -> None:
        select.select([fd], [], [])
        os._exit(1)

    threading.Thread(target=wait, name="roar-launcher-watch", daemon=True).start()


def main() -> None:
    IPKernelApp.launch_instance(kernel_class=RoarKernel)


if __name__ == "__main__":
    main()
