"""A cluster administrator's RAY_RUNTIME_ENV_HOOK that forbids worker setup hooks and custom
interpreters (the "policy forbids the hook" case of issue 19): Ray runs it inside ray.init on
the driver, and whatever it raises fails the init."""


def forbid_setup_hooks(runtime_env):
    env = dict(runtime_env or {})
    for key in ("worker_process_setup_hook", "py_executable"):
        if env.get(key):
            raise ValueError(f"runtime_env field {key!r} is not allowed on this cluster")
    return env


def strip_setup_hooks(runtime_env):
    env = dict(runtime_env or {})
    env.pop("worker_process_setup_hook", None)
    return env
