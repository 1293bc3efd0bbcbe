"""Ray workers' file accesses joining the driver's job (issue 19; docs/ray.md).

``roar run`` of a Ray driver gives the driver, through Ray's own ``RAY_RUNTIME_ENV_HOOK``, a
runtime_env addition (``driver.py``): every worker of the job starts under roar's preload
tracer (a ``py_executable`` prefix that gives each worker process its own preload log) with a
``worker_process_setup_hook`` (``worker.py``) noting which tasks and actor methods the worker
ran. At ``ray.shutdown`` (or exit) the driver runs one collection task pinned to each node
(``collect.py``), which decodes that node's worker logs and returns them through the object
store; the driver writes them where ``roar run`` told it (``session.py``), and ``roar run``
adds the accesses to the driver's one job and the per-worker breakdown to its metadata.

Nothing here imports Ray at module level: ``roar run`` loads ``session.py`` on every run.
"""
