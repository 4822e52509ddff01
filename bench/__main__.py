"""`make bench`: every benchmark, or the ones named (python -m bench query)."""

import sys

from bench import auth, erasure, freshness, ingest, projector, query, scale

BENCHMARKS = {
    "projector": projector.main,
    "freshness": freshness.main,
    "query": query.main,
    "ingest": ingest.main,
    "auth": auth.main,
    "erasure": erasure.main,
    "scale": scale.main,
}

for name in sys.argv[1:] or BENCHMARKS:
    BENCHMARKS[name]()
