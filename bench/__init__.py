"""Benchmarks for Sagsflow: a synthetic municipality on SQLite and PostgreSQL, task completion
and inbox latency over HTTP and in memory, throughput and contention. Run `python -m bench`;
see bench/README.md for what is measured and how to read the results."""
