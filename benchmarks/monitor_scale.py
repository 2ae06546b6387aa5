"""What ``mlctl monitor`` costs with 50 and with 500 live runs: API requests per minute, memory, CPU.

    python benchmarks/monitor_scale.py [--window SECONDS] [--counts 50,500]

For each count, that many runs are started (the Jobs ``mlctl run --detach``
creates, rendered by mlctl and applied in bulk), their pods left Running
on the fake nodes (``mlctl.test/run-duration`` of an hour), then a fresh
monitor watches the namespace for the window. The monitor is the
``mlctl monitor`` loop (``mlctl.runs.cluster.monitor.watch`` on a connection of
its own) in a child process that reports, every few seconds, the requests
it has sent (``Cluster.requests_made``), its resident memory (VmRSS) and its
CPU time. Printed per count: requests per minute over the window, RSS at
the end, CPU seconds per minute; then the ratios. The goal is flat: the
500-run figures close to the 50-run ones (requests per minute the same,
memory within 1.25x).

Starts its own testbed unless ``MLCTL_TESTBED_KUBECONFIG`` is set. A
figure, not a test: exits 0 either way.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from _cluster import delete_namespace, new_namespace, testbed
from _timing import REPO, environment

MEMORY_GOAL = 1.25
SPOT = {
    "MLCTL_PREEMPTIBLE_NODES__NODE_SELECTOR": '{"node-lifecycle":"spot"}',
    "MLCTL_PREEMPTIBLE_NODES__TOLERATIONS": (
        '[{"key":"node-lifecycle","operator":"Equal","value":"spot","effect":"NoSchedule"}]'
    ),
}
MONITOR = """
import json, sys, threading, time
from mlctl.cluster import client
from mlctl.runs.cluster import monitor

kubeconfig, namespace, every = sys.argv[1], sys.argv[2], float(sys.argv[3])
cluster = client.connect(kubeconfig, namespace=namespace)

def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0

def report():
    while True:
        print(json.dumps({"t": time.monotonic(), "requests": cluster.requests_made, "rss_kb": rss_kb(),
                          "cpu": time.process_time()}), flush=True)
        time.sleep(every)

threading.Thread(target=report, daemon=True).start()
monitor.watch(cluster, namespace=namespace)
"""


def start_runs(bed: Any, namespace: str, count: int, first: int) -> None:
    """``count`` detached runs of one function, as ``mlctl run --detach`` would create them."""
    import os

    os.environ.update(SPOT)  # the runs may use the spot nodes too: 500 pods need every node
    import tempfile
    from pathlib import Path

    from mlctl import config as config_
    from mlctl import pipeline
    from mlctl.cluster import client
    from mlctl.render.context import RenderContext

    config = config_.load(None)
    spec = Path(tempfile.mkdtemp(prefix="mlctl-bench-monitor-")) / "live.yaml"
    spec.write_text(
        "kind: job\nmetadata:\n  name: live\n  project: bench\n"
        "  annotations:\n    mlctl.test/run-duration: 1h\n"
        "spec:\n  image: python:3.11-slim\n  command: python -c pass\n  preemption_mode: allow\n"
    )
    loaded = pipeline.load(str(spec), config)
    cluster = client.connect(str(bed.kubeconfig), namespace=namespace)
    jobs = [
        obj
        for index in range(first, first + count)
        for obj in pipeline.render(loaded, config, RenderContext(namespace=namespace, run_id=f"{index:08x}"))
    ]
    client.concurrently(cluster.apply, jobs)


def running_pods(bed: Any, namespace: str) -> int:
    from kubernetes import client

    pods = client.CoreV1Api(bed.api).list_namespaced_pod(namespace, label_selector="mlctl.io/run-id").items
    return sum(1 for p in pods if p.status.phase == "Running")


def measure(bed: Any, namespace: str, window: float, env: dict[str, str]) -> dict[str, float]:
    every = 5.0
    child = subprocess.Popen(
        [sys.executable, "-c", MONITOR, str(bed.kubeconfig), namespace, str(every)],
        env=env, cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    try:
        samples: list[dict[str, Any]] = []
        settle = 10.0  # the first list is in; the watch is open
        while not samples or samples[-1]["t"] - samples[0]["t"] < settle + window:
            line = child.stdout.readline()
            if not line:
                raise SystemExit("the monitor ended early")
            samples.append(json.loads(line))
        start = next(s for s in samples if s["t"] - samples[0]["t"] >= settle)
        end = samples[-1]
        minutes = (end["t"] - start["t"]) / 60
        return {
            "requests_per_minute": (end["requests"] - start["requests"]) / minutes,
            "requests_at_start": start["requests"],
            "rss_mb": end["rss_kb"] / 1024,
            "cpu_s_per_minute": (end["cpu"] - start["cpu"]) / minutes,
        }
    finally:
        child.kill()
        child.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--window", type=float, default=120.0, help="seconds measured per count (default 120)")
    parser.add_argument("--counts", default="50,500", help="numbers of live runs (default 50,500)")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    env = environment()
    results: dict[int, dict[str, float]] = {}
    with testbed() as bed:
        namespace = new_namespace(bed, "bench-monitor")
        try:
            live = 0
            for count in counts:
                start_runs(bed, namespace, count - live, live)
                live = count
                deadline = time.monotonic() + 300
                while running_pods(bed, namespace) < count and time.monotonic() < deadline:
                    time.sleep(2)
                print(f"{running_pods(bed, namespace)} runs with a Running pod; measuring {args.window:g} s ...",
                      file=sys.stderr)  # fmt: skip
                results[count] = measure(bed, namespace, args.window, env)
        finally:
            delete_namespace(bed, namespace, wait=120)
    print(f"mlctl monitor, one namespace, {args.window:g} s window after a 10 s settle")
    print(f"{'live runs':>10} {'requests/min':>13} {'first list+watch':>17} {'RSS MB':>8} {'CPU s/min':>10}")
    for count, r in results.items():
        print(f"{count:>10} {r['requests_per_minute']:>13.1f} {r['requests_at_start']:>17.0f} {r['rss_mb']:>8.1f} "
              f"{r['cpu_s_per_minute']:>10.2f}")  # fmt: skip
    low, high = results[counts[0]], results[counts[-1]]
    requests_ok = high["requests_per_minute"] <= max(low["requests_per_minute"], 1.0) * 1.5
    memory = high["rss_mb"] / low["rss_mb"]
    verdict = "ok (flat)" if requests_ok else "MISSED (grows with runs)"
    print(f"requests/min {counts[-1]} vs {counts[0]}: {high['requests_per_minute']:.1f} vs "
          f"{low['requests_per_minute']:.1f}  {verdict}")  # fmt: skip
    print(f"RSS {counts[-1]} vs {counts[0]}: {memory:.2f}x  "
          f"{'ok' if memory <= MEMORY_GOAL else f'MISSED (goal <= {MEMORY_GOAL}x)'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
