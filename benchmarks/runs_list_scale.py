"""``mlctl runs list`` over 50, 500 and 5,000 runs in one namespace: time to the first line, to the end, memory.

    python benchmarks/runs_list_scale.py [--counts 50,500,5000] [--repeat 3]

Runs are added to one namespace until it holds each count: the Jobs
``mlctl run --detach`` creates (rendered by mlctl, applied concurrently
through the API), each with its pod on a fake node that succeeds after a
second. Once every pod has succeeded, each command runs ``--repeat`` times
(after one warm-up) in a fresh process and the medians are printed:

- ``mlctl runs list -n NS``: time to the first line on stdout, to the end, peak RSS;
- ``mlctl runs list -n NS -o json``: time to the first byte, to the end, peak RSS
  (and the output is checked to be one JSON list of every run);
- ``kubectl get jobs -A``: time to the first line, to the end.

The goal: the first line within 1 s at 5,000 runs. The testbed gets 50 bulk
nodes of 250 pods and a control plane allowed 200 requests/s, unless
``MLCTL_TESTBED_KUBECONFIG`` names a running one (``python -m tests.cluster
up --bulk-nodes 50 --pods-per-node 250 --client-qps 200``). A figure, not
a test: exits 0 either way.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _cluster import delete_namespace, kubectl, new_namespace, testbed
from _timing import REPO, environment, mlctl_command, peak_rss_mb, under_time

FIRST_LINE_GOAL = 1.0
SPEC = """kind: job
metadata: {name: listed, project: bench}
spec: {image: "python:3.11-slim", command: python -c pass}
"""


def start_runs(kubeconfig: Path, namespace: str, first: int, count: int) -> None:
    """Runs ``first`` .. ``first + count - 1``, created as ``mlctl run --detach`` would, many at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from mlctl import pipeline
    from mlctl.cluster import client
    from mlctl.render.context import RenderContext
    from mlctl.spec import config_files

    config = config_files.load(None, cluster=None)
    spec = Path(tempfile.mkdtemp(prefix="mlctl-bench-runs-")) / "listed.yaml"
    spec.write_text(SPEC)
    loaded = pipeline.load(str(spec), config)
    cluster = client.connect(str(kubeconfig), namespace=namespace, timeout=120)
    jobs = [
        obj
        for index in range(first, first + count)
        for obj in pipeline.render(loaded, config, RenderContext(namespace=namespace, run_id=f"{index:08x}"))
    ]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(cluster.apply, jobs))


def succeeded_pods(kubeconfig: Path, namespace: str) -> int:
    from mlctl.cluster import client

    cluster = client.connect(str(kubeconfig), namespace=namespace, timeout=120)
    listing = cluster.snapshot(
        "v1", "Pod", namespace, selector="mlctl.io/run-id", field_selector="status.phase=Succeeded",
        page_size=500, keep=lambda pod: {},
    )  # fmt: skip
    return len(listing.items)


def timed(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Seconds to the first byte on stdout and to the end, peak RSS (MB), and the output."""
    report = Path(tempfile.mkstemp(prefix="mlctl-bench-rss-")[1])
    start = time.perf_counter()
    child = subprocess.Popen(under_time(command, report), env=env, cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)  # fmt: skip
    assert child.stdout is not None and child.stderr is not None
    chunks = [os.read(child.stdout.fileno(), 1 << 16)]
    first = time.perf_counter() - start
    while chunks[-1]:
        chunks.append(os.read(child.stdout.fileno(), 1 << 16))
    error = child.stderr.read()
    child.wait()
    whole = time.perf_counter() - start
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed ({child.returncode}):\n{error.decode()[-2000:]}")
    return {"first": first, "whole": whole, "rss_mb": peak_rss_mb(report), "out": b"".join(chunks)}


def measure(command: list[str], env: dict[str, str], repeat: int) -> tuple[dict[str, float], bytes]:
    timed(command, env)  # a warm-up, not counted: the first run compiles the bytecode
    results = [timed(command, env) for _ in range(repeat)]
    figures = {key: statistics.median(r[key] for r in results) for key in ("first", "whole", "rss_mb")}
    return figures, results[-1]["out"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="50,500,5000", help="runs in the namespace (default 50,500,5000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command (default 3)")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    env = environment()
    env["MLCTL_STATE_DIR"] = tempfile.mkdtemp(prefix="mlctl-bench-state-")  # no local runs of this machine
    mlctl = mlctl_command()
    rows = []
    with testbed(bulk_nodes=50, pods_per_node=250, client_qps=200) as bed:
        env["KUBECONFIG"] = str(bed.kubeconfig)
        namespace = new_namespace(bed, "bench-runs")
        try:
            live = 0
            for count in counts:
                started = time.monotonic()
                start_runs(bed.kubeconfig, namespace, live, count - live)
                created = time.monotonic() - started
                live = count
                deadline = time.monotonic() + 1800
                while (done := succeeded_pods(bed.kubeconfig, namespace)) < count and time.monotonic() < deadline:
                    time.sleep(5)
                print(f"{count} runs: created in {created:.0f} s, {done} pods succeeded after "
                      f"{time.monotonic() - started:.0f} s; measuring ...", file=sys.stderr)  # fmt: skip
                time.sleep(5)  # the controllers' last status writes
                table, out = measure([*mlctl, "runs", "list", "-n", namespace], env, args.repeat)
                shown = len(out.decode().splitlines()) - 1
                as_json, out = measure([*mlctl, "runs", "list", "-n", namespace, "-o", "json"], env, args.repeat)
                listed = json.loads(out)
                theirs, _ = measure([str(kubectl()), "get", "jobs", "-A"], env, args.repeat)
                rows.append((count, shown, len(listed), table, as_json, theirs))
        finally:
            delete_namespace(bed, namespace)
    print(f"runs list, one namespace; median of {args.repeat} fresh processes; {bed.server}")
    print(f"{'runs':>6} {'rows':>6} | {'table: first line':>17} {'whole':>7} {'RSS MB':>7} | "
          f"{'-o json: first byte':>19} {'whole':>7} {'RSS MB':>7} | "
          f"{'kubectl get jobs -A: first line':>31} {'whole':>7}")  # fmt: skip
    for count, shown, listed, table, as_json, theirs in rows:
        print(f"{count:>6} {shown:>6} | {table['first']:>15.2f} s {table['whole']:>5.2f} s {table['rss_mb']:>7.0f} | "
              f"{as_json['first']:>17.2f} s {as_json['whole']:>5.2f} s {as_json['rss_mb']:>7.0f} | "
              f"{theirs['first']:>29.2f} s {theirs['whole']:>5.2f} s")  # fmt: skip
        if listed != count or shown != count:
            print(f"       MISMATCH: the table showed {shown} runs, the JSON list held {listed}, of {count}")
    count, _, _, table, _, _ = rows[-1]
    verdict = "ok" if table["first"] <= FIRST_LINE_GOAL else f"MISSED (goal <= {FIRST_LINE_GOAL:g} s)"
    print(f"first line at {count} runs: {table['first']:.2f} s  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
