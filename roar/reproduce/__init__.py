"""Making artifacts again from their recorded lineage.

``plan`` finds the jobs that produced a target and the source inputs they need; ``run`` replays
them in a fresh worktree and verifies the result; ``make`` reruns only the stale steps upstream
of a target in place.
"""
