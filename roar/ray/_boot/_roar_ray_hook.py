"""Ray's RAY_RUNTIME_ENV_HOOK for a driver run under `roar run` (this directory is put on the
driver's PYTHONPATH). Kept tiny and importable without roar: a driver whose interpreter cannot
import roar runs as it would untraced, and roar says its worker lineage is partial."""

import os


def hook(runtime_env):
    try:
        from roar.ray.driver import runtime_env_hook
    except Exception as exc:  # noqa: BLE001 - never break the user's ray.init
        _note(f"roar could not be imported by the driver ({exc})")
        prev = os.environ.get("ROAR_RAY_PREV_HOOK")
        if prev:
            import importlib

            module, _, name = prev.rpartition(".")
            return getattr(importlib.import_module(module), name)(runtime_env)
        return runtime_env
    return runtime_env_hook(runtime_env)


def _note(why):
    out = os.environ.get("ROAR_RAY_OUT")
    if not out:
        return
    import json

    try:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, f"partial-{os.getpid()}.json"), "w") as f:
            json.dump({"partial": why}, f)
    except OSError:
        pass
