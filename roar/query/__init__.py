"""Answering questions from the recorded jobs: the store's rows turned into lineage.

``lineage`` builds the DAG (steps, reruns, staleness), ``history`` resolves what the user named
(``@N``, a path, a hash, a session), ``disk`` compares recorded hashes with what the disk holds
now, ``graph`` shapes the DAG for the viewers, and ``serialize`` and ``graphviz_export`` render
answers as the JSON contract and as DOT/SVG.
"""
