"""Benchmarks on the real broker and database; `make bench` runs them all (python -m bench)."""
