"""`make bench`: every benchmark, or the ones named (python -m bench query).

`python -m bench soak` (`make soak`) runs only when named: it is long, and a correctness run rather
than a measure. `python -m bench load --people N ...` loads people through the real pipeline (see
bench/load.py); `python -m bench drop NAMESPACE...` drops a loaded namespace."""

import sys

from bench import auth, erasure, export, freshness, ingest, live, load, projector, query, replay, scale

BENCHMARKS = {
    "projector": projector.main,
    "freshness": freshness.main,
    "query": query.main,
    "ingest": ingest.main,
    "auth": auth.main,
    "erasure": erasure.main,
    "scale": scale.main,
    "live": live.main,
    "export": export.main,
    "replay": replay.main,
}


def soak() -> None:
    from bench import soak  # it drives the test suite's helpers: imported only when asked for

    soak.main()


ON_REQUEST = {"soak": soak}

if sys.argv[1:2] == ["load"]:
    load.main(sys.argv[2:])
elif sys.argv[1:2] == ["drop"]:
    load.drop(sys.argv[2:])
else:
    for name in sys.argv[1:] or BENCHMARKS:
        {**BENCHMARKS, **ON_REQUEST}[name]()
