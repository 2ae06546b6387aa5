"""Throughput of ``mlctl validate`` over the whole hub corpus in one process.

    python benchmarks/validate_corpus.py [--runs N]

Prints specs per second for one ``mlctl validate <596 files>`` command
(a fresh process: start-up included) and for the same work in-process
(after imports; read + check only). The goal is at least 300 specs/s.
One corpus file holds merge-conflict markers, so the command exits 3.

A figure, not a test. Exits 0 either way.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

from _timing import CORPUS, environment, median_seconds, mlctl_command

GOAL = 300.0


def in_process(files: list[str]) -> float:
    from mlctl import config, pipeline
    from mlctl.errors import InvalidInput

    settings = config.resolve({}, [])
    start = time.perf_counter()
    for path in files:
        with contextlib.suppress(InvalidInput):
            pipeline.check(pipeline.read(path), settings)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of the command (default 5)")
    args = parser.parse_args()
    files = sorted(str(p) for p in CORPUS.glob("*.yaml"))
    if not files:
        print(f"no specs found in {CORPUS}", file=sys.stderr)
        return 1
    (seconds,) = median_seconds([[*mlctl_command(), "validate", *files]], args.runs, environment())
    rate = len(files) / seconds
    verdict = "ok" if rate >= GOAL else f"MISSED (goal >= {GOAL:.0f}/s)"
    print(
        f"mlctl validate <{len(files)} corpus files>: {seconds * 1000:.0f} ms (median of {args.runs}), "
        f"{rate:.0f} specs/s  {verdict}"
    )
    warm = in_process(files)  # the first pass builds the schema validator
    warm = min(warm, in_process(files))
    print(f"in-process read + check, after imports: {warm * 1000:.0f} ms, {len(files) / warm:.0f} specs/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
