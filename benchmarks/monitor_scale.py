"""What ``mlctl monitor`` costs with 50, 500 and 5,000 live runs: API requests per minute, memory, CPU, first lists.

    python benchmarks/monitor_scale.py [--counts 50,500,5000] [--namespaces 10] [--all-namespaces]
                                       [--window SECONDS] [--bulk-nodes 50]

The runs are spread over ``--namespaces`` namespaces: the Jobs ``mlctl run
--detach`` creates, rendered by mlctl and created through the API many at
once, their pods left Running on the testbed's bulk nodes (``Testbed(
bulk_nodes=50, pods_per_node=250, client_qps=200)``, so 5,000 pods fit and
are scheduled in minutes). For each count (runs are added to the ones
already there), a fresh monitor watches them, every namespace with
``--all-namespaces``, else the first namespace only. The monitor is the
``mlctl monitor`` loop in a child process that reports, every few seconds,
the requests it has sent, its resident memory (and its peak) and its CPU
time. Printed per count: how long its first lists took (the pods and every
kind of run object, a page of 500 at a time), requests per minute over the
window once they are in (watches only: the goal is flat), RSS at the end
and its peak, CPU seconds per minute. Goals: requests per minute flat, RSS
at most 100 MB at 5,000 runs.

Starts its own testbed unless ``MLCTL_TESTBED_KUBECONFIG`` is set (then it
must have the bulk nodes already). A figure, not a test: exits 0 either way.
Creating 5,000 runs on a 2-core machine takes several minutes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from _bulk import Monitor, create, render_runs, wait_running
from _cluster import ATTACH_ENV, delete_namespace, new_namespace, testbed
from _timing import environment

RSS_GOAL_MB = 100.0
FIRST_KINDS = {"Pod", "Job"}  # the lists that hold the runs (the other run kinds' CRDs hold none here)


def measure(bed: Any, where: str, window: float, env: dict[str, str]) -> dict[str, float]:
    monitor = Monitor(bed.kubeconfig, where, env)
    try:
        first = monitor.next()
        listed: dict[str, float] = {}
        while not set(listed) >= FIRST_KINDS:
            line = monitor.next()
            if "listed" in line:
                listed.setdefault(line["listed"].split()[0], line["t"] - first["t"])
        settle = time.monotonic() + 10  # the other kinds' lists (or their 404s) are in; every watch is open
        line = monitor.next()
        while "requests" not in line or line["t"] < settle:
            if "listed" in line:
                listed.setdefault(line["listed"].split()[0], line["t"] - first["t"])
            line = monitor.next()
        start = end = line
        relists = 0
        while end["t"] - start["t"] < window:
            line = monitor.next()
            relists += "listed" in line  # a list read again: only after a 410 Gone
            end = line if "requests" in line else end
        minutes = (end["t"] - start["t"]) / 60
        return {
            "first_lists_s": max(listed.values()),
            "requests_at_start": start["requests"],
            "requests_per_minute": (end["requests"] - start["requests"]) / minutes,
            "rss_mb": end["rss_kb"] / 1024,
            "peak_mb": end["hwm_kb"] / 1024,
            "cpu_s_per_minute": (end["cpu"] - start["cpu"]) / minutes,
            "relists": relists,
        }
    finally:
        monitor.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--window", type=float, default=120.0, help="seconds measured per count (default 120)")
    parser.add_argument("--counts", default="50,500,5000", help="numbers of live runs (default 50,500,5000)")
    parser.add_argument("--namespaces", type=int, default=10, help="namespaces the runs are spread over (default 10)")
    parser.add_argument("--all-namespaces", action="store_true", help="the monitor watches every namespace")
    parser.add_argument("--bulk-nodes", type=int, default=50, help="testbed nodes of 250 pods each (default 50)")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    env = environment()
    results: dict[int, dict[str, float]] = {}
    from mlctl.cluster import client

    with testbed(bulk_nodes=args.bulk_nodes, pods_per_node=250, client_qps=200) as bed:
        namespaces = [new_namespace(bed, "bench-monitor") for _ in range(args.namespaces)]
        cluster = client.connect(str(bed.kubeconfig))
        try:
            live = 0
            for count in counts:
                began = time.monotonic()
                create(cluster, render_runs(namespaces, live, count - live))
                live = count
                running = wait_running(cluster, count, timeout=max(300.0, count * 0.3))
                print(f"{running} runs with a Running pod ({time.monotonic() - began:.0f} s to start them); "
                      f"measuring {args.window:g} s ...", file=sys.stderr)  # fmt: skip
                results[count] = measure(bed, "-" if args.all_namespaces else namespaces[0], args.window, env)
        finally:
            if ATTACH_ENV in os.environ:  # an own testbed goes with everything in it
                for name in namespaces:
                    delete_namespace(bed, name)
    scope = "--all-namespaces" if args.all_namespaces else f"one namespace of {args.namespaces}"
    print(f"mlctl monitor, runs in {args.namespaces} namespaces, watching {scope}; {args.window:g} s window "
          "once the first lists are in")  # fmt: skip
    print(f"{'live runs':>10} {'first lists s':>14} {'requests/min':>13} {'RSS MB':>8} {'peak MB':>8} "
          f"{'CPU s/min':>10} {'relists':>8}")  # fmt: skip
    for count, r in results.items():
        print(f"{count:>10} {r['first_lists_s']:>14.1f} {r['requests_per_minute']:>13.1f} {r['rss_mb']:>8.1f} "
              f"{r['peak_mb']:>8.1f} {r['cpu_s_per_minute']:>10.2f} {r['relists']:>8.0f}")  # fmt: skip
    low, high = results[counts[0]], results[counts[-1]]
    flat = high["requests_per_minute"] <= max(low["requests_per_minute"], 1.0) * 1.5
    print(f"requests/min {counts[-1]} vs {counts[0]}: {high['requests_per_minute']:.1f} vs "
          f"{low['requests_per_minute']:.1f}  {'ok (flat)' if flat else 'MISSED (grows with runs)'}")  # fmt: skip
    verdict = "ok" if high["rss_mb"] <= RSS_GOAL_MB else f"MISSED (goal <= {RSS_GOAL_MB:g} MB)"
    print(f"RSS at {counts[-1]} runs: {high['rss_mb']:.1f} MB (peak {high['peak_mb']:.1f} MB)  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
