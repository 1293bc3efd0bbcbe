"""Installing the roar kernelspec ("Python 3 (roar)") where Jupyter front ends find it."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass

DEFAULT_NAME = "roar"
DISPLAY_NAME = "Python 3 (roar)"


@dataclass(frozen=True)
class InstalledKernel:
    name: str
    path: str
    display_name: str
    python: str


def kernel_json(display_name: str = DISPLAY_NAME) -> dict:
    return {
        "argv": [sys.executable, "-m", "roar_kernel", "-f", "{connection_file}"],
        "display_name": display_name,
        "language": "python",
        "interrupt_mode": "signal",
        "metadata": {"debugger": True, "roar": True},
    }


def install(
    name: str = DEFAULT_NAME,
    *,
    user: bool = False,
    sys_prefix: bool = False,
    prefix: str | None = None,
    display_name: str | None = None,
) -> str:
    """Write the kernelspec and return the directory it went to.

    With neither ``user`` nor ``sys_prefix``: into this environment when it is a virtualenv
    (where its Jupyter looks first), else the user's Jupyter data directory.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    if not (user or sys_prefix or prefix):
        sys_prefix, user = (True, False) if sys.prefix != sys.base_prefix else (False, True)
    with tempfile.TemporaryDirectory() as tmp:
        spec = kernel_json(display_name or (DISPLAY_NAME if name == DEFAULT_NAME else name))
        with open(os.path.join(tmp, "kernel.json"), "w", encoding="utf-8") as fh:
            json.dump(spec, fh, indent=1)
        _copy_logos(tmp)
        return str(
            KernelSpecManager().install_kernel_spec(
                tmp, name, user=user, prefix=sys.prefix if sys_prefix else prefix
            )
        )


def installed() -> list[InstalledKernel]:
    """Every kernelspec Jupyter can see that starts the roar kernel."""
    from jupyter_client.kernelspec import KernelSpecManager

    found = []
    for name, info in sorted(KernelSpecManager().get_all_specs().items()):
        spec = info.get("spec", {})
        argv = spec.get("argv", [])
        if "roar_kernel" in argv:
            found.append(
                InstalledKernel(
                    name, info.get("resource_dir", ""), spec.get("display_name", name), argv[0]
                )
            )
    return found


def uninstall(name: str = DEFAULT_NAME) -> str | None:
    """Remove the named roar kernelspec; its directory, or None if there was none."""
    for kernel in installed():
        if kernel.name == name:
            shutil.rmtree(kernel.path)
            return kernel.path
    return None


def _copy_logos(target: str) -> None:
    try:
        from ipykernel.kernelspec import RESOURCES
    except ImportError:
        return
    for logo in ("logo-32x32.png", "logo-64x64.png", "logo-svg.svg"):
        source = os.path.join(RESOURCES, logo)
        if os.path.exists(source):
            shutil.copy(source, target)
