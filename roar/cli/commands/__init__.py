"""One module per verb, each with ``add_parser(subparsers)`` setting ``handler``.

Modules are imported only when their command runs (``roar run`` must start fast), so the
help text for the command list lives here (the same text each module's ``add_parser`` gives;
tests/cli/test_startup.py holds the two together).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself is not imported: `roar --help` does without it
if TYPE_CHECKING:
    from typing import Any

# name → (module, attribute holding add_parser or None for the module itself, help)
COMMANDS: dict[str, tuple[str, str | None, str]] = {
    "init": ("init", None, "Initialize roar in this git repository"),
    "run": ("run", None, "Run a command and record what it read and wrote"),
    "build": (
        "run",
        "BuildCommand",
        "Run and record a build step (@BN), replayed first on reproduce",
    ),
    "log": ("log", None, "Show recent jobs"),
    "status": ("status", None, "Summary of the active session"),
    "dag": ("dag", None, "Show the session's pipeline DAG"),
    "show": ("show", None, "Show the session, a job (@N, @BN, uid) or an artifact (path, hash)"),
    "lineage": ("lineage_cmd", None, "Where an artifact came from: upstream jobs and artifacts"),
    "diff": (
        "diff_cmd",
        None,
        "Compare the lineage of two artifacts, jobs or sessions: what changed, likeliest first",
    ),
    "inputs": (
        "inputs_cmd",
        None,
        "Source inputs of an artifact or job; --contains X: was X in its lineage",
    ),
    "reproduce": (
        "reproduce",
        None,
        "Show how to make an artifact again (its plan); --run reproduces it",
    ),
    "register": (
        "register_cmd",
        None,
        "Register the lineage of an artifact, job, step or session with GLaaS",
    ),
    "auth": (
        "auth_cmd",
        None,
        "SSH key authentication with GLaaS: show your key, test it, show the auth status",
    ),
    "login": (
        "login_cmd",
        None,
        "Log in to GLaaS (a token file or your SSH key) for attributed and private publishing",
    ),
    "logout": ("logout_cmd", None, "Forget the stored GLaaS login"),
    "whoami": ("whoami_cmd", None, "Show whom GLaaS knows you as"),
    "scope": (
        "scope_cmd",
        None,
        "Show or set this repo's GLaaS publication scope (anonymous, public, private, O/P)",
    ),
    "get": (
        "get_cmd",
        None,
        "Download artifacts from cloud storage (s3://, gs://, https://), recorded in the DAG",
    ),
    "put": ("put_cmd", None, "Upload artifacts to cloud storage and register lineage with GLaaS"),
    "make": ("make_cmd", None, "Rerun exactly the stale steps upstream of an artifact"),
    "workflow": ("workflow_cmd", None, "Write a session as a TReqs workflow (YAML)"),
    "pop": ("pop", None, "Remove the most recent job and the files it wrote"),
    "reset": ("reset", None, "Start a new session (previous ones are kept)"),
    "session": ("session_cmd", None, "Sessions: list them, show one's DAG, make one active again"),
    "label": ("label_cmd", None, "Manage local labels for DAGs (sessions), jobs, and artifacts"),
    "config": ("config_cmd", None, "View or set configuration"),
    "env": ("env_cmd", None, "Variables injected into every roar run and roar build"),
    "tracer": ("tracer_cmd", None, "Tracer backends: readiness, default, deep check, setup"),
    "kernel": ("kernel_cmd", None, "Install the roar Jupyter kernel (records every cell)"),
    "telemetry": (
        "telemetry_cmd",
        None,
        "Anonymous usage counters: status, next payload, disable, enable",
    ),
}


def load(name: str) -> Any:
    """The object whose ``add_parser`` registers command ``name``."""
    import importlib  # here: `roar --help` and `--version` need it not (nor warnings, with it)

    module_name, attribute, _help = COMMANDS[name]
    module = importlib.import_module(f"roar.cli.commands.{module_name}")
    return getattr(module, attribute) if attribute else module
