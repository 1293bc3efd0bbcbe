"""The roar notebook front end: a kernel that records every executed cell as a roar job, and
the `%roar` magics (``%load_ext roar_kernel`` in any IPython kernel; preloaded in the roar
kernel).
"""

from __future__ import annotations

from typing import Any


def load_ipython_extension(ipython: Any) -> None:
    from roar_kernel.magics import RoarMagics

    ipython.register_magics(RoarMagics)
