"""The job's Ray workers as `roar show` lists them (metadata["workers"], see docs/ray.md)."""

from __future__ import annotations

from collections import Counter
from typing import Any

NODE_CHARS = 12
TASKS_SHOWN = 6


def worker_lines(workers: list[dict[str, Any]]) -> list[str]:
    """``Ray workers (N):`` then one line per worker: node, pid, the tasks it ran (counted)."""
    nodes = {w.get("node_id") for w in workers}
    lines = [f"Ray workers ({len(workers)} on {len(nodes)} node(s)):"]
    for w in sorted(workers, key=lambda w: (str(w.get("node_id")), int(w.get("pid") or 0))):
        counts = Counter(t.get("name", "?") for t in w.get("tasks", []))
        names = [f"{n} ×{c}" if c > 1 else n for n, c in counts.items()]
        more = f", … {len(names) - TASKS_SHOWN} more" if len(names) > TASKS_SHOWN else ""
        node = str(w.get("node_id") or "?")[:NODE_CHARS]
        lines.append(
            f"  node {node}  pid {w.get('pid')}  tasks: {', '.join(names[:TASKS_SHOWN])}{more}"
        )
    return lines
