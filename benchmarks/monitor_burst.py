"""Breach to abort when 100 runs pass their limit in the same second, among 50, 500 and 5,000 live runs;
then a monitor killed half-way through 100 aborts, and the one started after it.

    python benchmarks/monitor_burst.py [--counts 50,500,5000] [--namespaces 10] [--burst 100] [--bulk-nodes 50]

For each count, that many live runs (their pods Running for an hour) plus
twice ``--burst`` more are spread over ``--namespaces`` namespaces (runs are
added to the ones of the count before), and one monitor watches every
namespace (the ``mlctl monitor --all-namespaces`` loop in a child process).

Burst: the ``running`` (``executing``) limit of the first ``--burst`` extra
runs is set, on their pods' threshold annotation, so that every one of
them passes it in the same second T (the limit is T minus the instant its
container started, both whole seconds: Kubernetes' own clock says when it
is over). From T, this script's own watches measure, per run: record
aborted (its Job says ``aborted``) and pods gone (its last pod deleted).
Printed: median, 99th percentile and worst. Goal: p99 of record aborted at
most 2 s.

Restart: the same for the other ``--burst`` runs, but the monitor is killed
(SIGKILL) once half of them are recorded aborted, and a new one is started.
Printed: how many each monitor aborted, whether any run's record was
written twice or reported by both, and the catch-up time from the new
monitor's start to every run recorded aborted and every pod gone. Runs
whose abort the killed monitor had recorded but not finished (their pods
left to the Job controller, which keeps them under its finalizer) are
finished by the new monitor once an abort's grace has passed.

Starts its own testbed (``Testbed(bulk_nodes=50, pods_per_node=250,
client_qps=200)``) unless ``MLCTL_TESTBED_KUBECONFIG`` is set. A figure,
not a test: exits 0 either way. Creating 5,000 runs on a 2-core machine
takes several minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from typing import Any

from _bulk import Monitor, create, render_runs, wait_running
from _cluster import ATTACH_ENV, delete_namespace, new_namespace, testbed
from _timing import environment

GOAL = 2.0
RUN_ID = "mlctl.io/run-id"
STATE = "mlctl.io/state"
FINISHED = "mlctl.io/finished"
STATUS_TEXT = "mlctl.io/status-text"
THRESHOLDS = "mlctl.io/thresholds"


class Observer:
    """Watches the pods and Jobs of some runs; notes when each is recorded aborted, and when its last pod goes."""

    def __init__(self, cluster: Any, run_ids: list[str]) -> None:
        self.cluster = cluster
        self.selector = f"{RUN_ID} in ({','.join(run_ids)})"
        self.lock = threading.Lock()
        self.aborted_at: dict[str, float] = {}
        self.records: dict[str, set[tuple[str, str]]] = {}  # run -> the (status text, finished) written
        self.pods: dict[str, set[str]] = {}
        self.gone_at: dict[str, float] = {}
        self.started: dict[str, float] = {}  # run -> when its container started (epoch seconds)
        self.names: dict[str, tuple[str, str]] = {}  # run -> (namespace, pod name)
        self.stop = threading.Event()
        for kind in (("v1", "Pod"), ("batch/v1", "Job")):
            listing = cluster.snapshot(*kind, None, selector=self.selector)
            for obj in listing.items:
                self._saw(kind[1], "ADDED", obj, time.time())
            threading.Thread(target=self._follow, args=(kind, listing.resource_version), daemon=True).start()

    def _follow(self, kind: tuple[str, str], version: str) -> None:
        while not self.stop.is_set():
            for event in self.cluster.watch(*kind, None, selector=self.selector, resource_version=version):
                obj = event.get("object") or {}
                version = (obj.get("metadata") or {}).get("resourceVersion") or version
                if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                    self._saw(kind[1], event["type"], obj, time.time())

    def _saw(self, kind: str, change: str, obj: dict[str, Any], now: float) -> None:
        meta = obj["metadata"]
        run = meta["labels"][RUN_ID]
        with self.lock:
            if kind == "Job":
                annotations = meta.get("annotations") or {}
                if annotations.get(STATE) == "aborted":
                    self.aborted_at.setdefault(run, now)
                    written = (annotations.get(STATUS_TEXT, ""), annotations.get(FINISHED, ""))
                    self.records.setdefault(run, set()).add(written)
                return
            names = self.pods.setdefault(run, set())
            if change == "DELETED":
                names.discard(meta["name"])
                if not names:
                    self.gone_at.setdefault(run, now)
                return
            names.add(meta["name"])
            self.names[run] = (meta["namespace"], meta["name"])
            for container in (obj.get("status") or {}).get("containerStatuses") or []:
                started = ((container.get("state") or {}).get("running") or {}).get("startedAt")
                if started:
                    self.started[run] = datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp()

    def done(self, runs: list[str]) -> bool:
        with self.lock:
            return all(r in self.aborted_at and r in self.gone_at for r in runs)

    def aborted(self, runs: list[str]) -> int:
        with self.lock:
            return sum(r in self.aborted_at for r in runs)


def breach_at(cluster: Any, observer: Observer, runs: list[str], lead: float = 12.0) -> float:
    """Set each run's pods' running limit so that all pass it at one whole second ``lead`` s from now; that second."""
    from mlctl.cluster import client

    instant = math.ceil(time.time()) + lead
    with observer.lock:
        targets = [(observer.names[r], int(instant - observer.started[r])) for r in runs]

    def set_limit(target: tuple[tuple[str, str], int]) -> None:
        (namespace, name), limit = target
        patch = {"metadata": {"annotations": {THRESHOLDS: json.dumps({"executing": f"{limit}s"})}}}
        cluster.patch("v1", "Pod", name, patch, namespace)

    client.concurrently(set_limit, targets, workers=32)
    return instant


def wait(check: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.01)
    return bool(check())


def percentiles(figures: list[float]) -> str:
    if not figures:
        return "none"
    ordered = sorted(figures)
    p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
    return f"p50 {statistics.median(ordered):5.2f} s  p99 {p99:5.2f} s  worst {ordered[-1]:5.2f} s"


def abort_lines(monitor: Monitor) -> list[dict[str, Any]]:
    found = []
    while not monitor.lines.empty():
        line = monitor.lines.get_nowait()
        if "abort" in line:
            found.append(line)
    return found


def settle(monitor: Monitor) -> float:
    """Wait until the monitor's lists of pods and Jobs are in; how long they took."""
    first = monitor.next()
    listed = set()
    line = first
    while not {"Pod", "Job"} <= listed:
        line = monitor.next()
        if "listed" in line:
            listed.add(line["listed"].split()[0])
    time.sleep(3)  # the other kinds' lists; every watch open
    return float(line["t"] - first["t"])


def burst(cluster: Any, observer: Observer, runs: list[str], env: dict[str, str], bed: Any) -> dict[str, Any]:
    monitor = Monitor(bed.kubeconfig, "-", env)
    try:
        lists = settle(monitor)
        instant = breach_at(cluster, observer, runs)
        finished = wait(lambda: observer.done(runs), instant - time.time() + 60)
        time.sleep(1)
        with observer.lock:
            aborted = [observer.aborted_at[r] - instant for r in runs if r in observer.aborted_at]
            gone = [observer.gone_at[r] - instant for r in runs if r in observer.gone_at]
        return {"lists": lists, "aborted": aborted, "gone": gone, "finished": finished, "monitor": monitor}
    except BaseException:
        monitor.kill()
        raise


def restart(cluster: Any, observer: Observer, runs: list[str], first: Monitor, env: dict[str, str], bed: Any) -> str:
    instant = breach_at(cluster, observer, runs)
    wait(lambda: observer.aborted(runs) >= len(runs) // 2, instant - time.time() + 60)
    first.kill()
    at_kill = observer.aborted(runs)
    by_first = [line["abort"] for line in abort_lines(first) if line["abort"] in runs]
    began = time.time()
    second = Monitor(bed.kubeconfig, "-", env)
    try:
        recorded = wait(lambda: observer.aborted(runs) == len(runs), 120)
        records_done = time.time() - began
        done = wait(lambda: observer.done(runs), 120)
        all_done = time.time() - began
        time.sleep(2)  # a second abort of a run would show by now
        by_second = [line["abort"] for line in abort_lines(second) if line["abort"] in runs]
    finally:
        second.kill()
    with observer.lock:
        rewritten = sum(len(observer.records.get(r, ())) > 1 for r in runs)
        missing = sum(r not in observer.aborted_at for r in runs)
        left = sum(r not in observer.gone_at for r in runs)
    said = Counter(by_first + by_second)
    twice = sum(n > 1 for n in said.values())
    verdict = "ok" if recorded and done and not (rewritten or missing or left or twice) else "MISSED"
    return (
        f"killed at {at_kill} of {len(runs)} recorded; the first monitor said {len(by_first)} aborts, the second "
        f"{len(by_second)}; records written twice: {rewritten}, said twice: {twice}, not aborted: {missing}, "
        f"pods left: {left}; catch-up: every record {records_done:.1f} s, every pod gone {all_done:.1f} s  {verdict}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="50,500,5000", help="numbers of live runs (default 50,500,5000)")
    parser.add_argument("--namespaces", type=int, default=10, help="namespaces the runs are spread over (default 10)")
    parser.add_argument("--burst", type=int, default=100, help="runs passing their limit in the same second")
    parser.add_argument("--bulk-nodes", type=int, default=50, help="testbed nodes of 250 pods each (default 50)")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    env = environment()
    from mlctl.cluster import client

    lines: list[str] = []
    with testbed(bulk_nodes=args.bulk_nodes, pods_per_node=250, client_qps=200) as bed:
        namespaces = [new_namespace(bed, "bench-burst") for _ in range(args.namespaces)]
        cluster = client.connect(str(bed.kubeconfig))
        try:
            live = 0
            for level, count in enumerate(counts, 1):
                began = time.monotonic()
                first_extra = 10_000_000 * level
                create(cluster, render_runs(namespaces, live, count - live))
                create(cluster, render_runs(namespaces, first_extra, 2 * args.burst))
                live = count
                running = wait_running(cluster, count + 2 * args.burst, timeout=max(300.0, count * 0.3))
                print(f"{running} runs with a Running pod ({time.monotonic() - began:.0f} s to start them)",
                      file=sys.stderr)  # fmt: skip
                extra = [f"{i:08x}" for i in range(first_extra, first_extra + 2 * args.burst)]
                observer = Observer(cluster, extra)
                try:
                    measured = burst(cluster, observer, extra[: args.burst], env, bed)
                    monitor = measured["monitor"]
                    try:
                        worst = sorted(measured["aborted"])[-1] if measured["aborted"] else float("inf")
                        p99 = sorted(measured["aborted"])[max(0, math.ceil(0.99 * len(measured["aborted"])) - 1)]
                        complete = len(measured["aborted"]) == args.burst and len(measured["gone"]) == args.burst
                        verdict = "ok" if complete and p99 <= GOAL else f"MISSED (goal p99 <= {GOAL:g} s)"
                        lines.append(
                            f"{count:>6} live + {args.burst} breaching (first lists {measured['lists']:.1f} s): "
                            f"record aborted {percentiles(measured['aborted'])}; "
                            f"pods gone {percentiles(measured['gone'])}  {verdict} (worst {worst:.2f} s); "
                            f"monitor peak RSS {monitor.peak_mb:.0f} MB"
                        )
                        print(lines[-1], file=sys.stderr)
                        lines.append("         restart: " + restart(cluster, observer, extra[args.burst :], monitor,
                                                                      env, bed))  # fmt: skip
                        print(lines[-1], file=sys.stderr)
                    finally:
                        monitor.kill()
                finally:
                    observer.stop.set()
        finally:
            if ATTACH_ENV in os.environ:  # an own testbed goes with everything in it
                for name in namespaces:
                    delete_namespace(bed, name)
    print(f"mlctl monitor --all-namespaces, runs in {args.namespaces} namespaces; breach to abort from the second "
          f"the limit passes")  # fmt: skip
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
