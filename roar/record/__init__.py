"""Recording a job: what a run or a cell read and wrote, and the context it ran in.

``recorder`` runs a command under a tracer and writes the job; ``cells`` does the same for a
notebook cell. The rest capture one kind of fact each: ``lineage_files`` and ``filters`` decide
which observed files are lineage, ``hashing`` identifies them by content, ``gitinfo``,
``envinfo`` and ``packages`` record the code, environment and packages, and ``secrets`` masks
what looks like a credential before anything is stored.
"""
