"""How long the integration testbed takes to start, step by step, warm cache.

    python benchmarks/testbed_startup.py [--runs N]

Starts and stops the testbed N times (binaries already built) and prints the
median seconds of each startup step: certificates, etcd, kube-apiserver,
CRDs, controllers, objects, ready, and the add-ons (metrics-server, the MPI
Operator and the Dask operator started, then ready: the metrics.k8s.io
APIService Available, the operator's leader lease, the Dask operator's
liveness). The add-on steps are what the real operators and metrics add to
every integration session. A figure, not a test: exits 0 either way.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from _timing import REPO

sys.path.insert(0, str(REPO))

from tests.cluster.testbed import Testbed, build


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="starts (default 3)")
    args = parser.parse_args()
    builds = build()
    steps: dict[str, list[float]] = {}
    totals: list[float] = []
    stops: list[float] = []
    for _ in range(args.runs):
        bed = Testbed(builds).start()
        for name, seconds in bed.timings.items():
            steps.setdefault(name, []).append(seconds)
        totals.append(bed.startup_seconds)
        began = time.monotonic()
        bed.stop()
        stops.append(time.monotonic() - began)
    print(f"{args.runs} starts; median seconds per step")
    for name, values in steps.items():
        print(f"{name:<20} {statistics.median(values):6.2f}")
    addons = statistics.median(steps["add-ons"]) + statistics.median(steps["add-ons ready"])
    print(f"{'add-ons in all':<20} {addons:6.2f}")
    print(f"{'start':<20} {statistics.median(totals):6.2f}")
    print(f"{'stop':<20} {statistics.median(stops):6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
