"""One module per verb. Each has ``add_parser(subparsers)`` which sets ``handler``."""

from typing import Any

from roar.cli.commands import (
    config_cmd,
    dag,
    env_cmd,
    init,
    lineage_cmd,
    log,
    pop,
    reset,
    run,
    show,
    status,
)

COMMANDS: list[Any] = [
    init,
    run,
    run.BuildCommand,
    log,
    status,
    dag,
    show,
    lineage_cmd,
    pop,
    reset,
    config_cmd,
    env_cmd,
]
