"""How long ``mlctl runs explain`` takes for a run whose namespace holds 500 pods' worth of events.

    python benchmarks/explain_500.py [--pods N] [--runs N]

One run is started detached that can never be scheduled (more GPUs than any
node has), so its explanation reads the nodes and what is requested on
them. Its namespace also gets four events (Scheduled, Pulled, Created,
Started) for each of N other pods (default 500), as a busy namespace has.
Figures: the whole command in a fresh process (what a user waits for, the
median of ``--runs``), the explanation alone in this process (its reads and
the pure step), and ``mlctl runs get`` of the same run for scale (a fresh
process that connects and reads the run). Goal: the command within 1 s. Starts its own testbed
unless ``MLCTL_TESTBED_KUBECONFIG`` is set. A figure, not a test: exits 0
either way.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from _cluster import delete_namespace, new_namespace, testbed
from _timing import environment, median_seconds, mlctl_command

GOAL = 1.0
STEPS = ("Scheduled", "Pulled", "Created", "Started")


def write_spec(folder: Path) -> Path:
    code = "def handler(context=None):\n    return {}\n"
    path = folder / "big.yaml"
    path.write_text(yaml.safe_dump({
        "kind": "job", "metadata": {"name": "big", "project": "bench"},
        "spec": {"image": "python:3.11-slim", "default_handler": "handler",
                 "resources": {"limits": {"nvidia.com/gpu": 8}},
                 "build": {"functionSourceCode": base64.b64encode(code.encode()).decode()}},
    }))  # fmt: skip
    return path


def fill_events(api: Any, namespace: str, pods: int) -> int:
    from kubernetes import client

    core = client.CoreV1Api(api)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def create(index: int) -> None:
        pod = f"worker-{index:04d}"
        for step in STEPS:
            core.create_namespaced_event(namespace, {
                "metadata": {"name": f"{pod}.{step.lower()}"},
                "involvedObject": {"kind": "Pod", "name": pod, "namespace": namespace, "apiVersion": "v1"},
                "reason": step, "type": "Normal", "message": f"{step} container base of {pod}",
                "firstTimestamp": now, "lastTimestamp": now, "count": 1,
                "source": {"component": "kubelet", "host": "cpu-1"},
            })  # fmt: skip

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(create, range(pods)))
    return pods * len(STEPS)


def wait_unschedulable(api: Any, namespace: str, run_id: str) -> None:
    from kubernetes import client

    core = client.CoreV1Api(api)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for pod in core.list_namespaced_pod(namespace, label_selector=f"mlctl.io/run-id={run_id}").items:
            for condition in pod.status.conditions or []:
                if condition.type == "PodScheduled" and condition.reason == "Unschedulable":
                    return
        time.sleep(0.2)
    raise SystemExit("the run's pod was never marked unschedulable")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=500, help="other pods whose events fill the namespace")
    parser.add_argument("--runs", type=int, default=7, help="timed runs of the command (median)")
    args = parser.parse_args()
    env = environment()
    mlctl = mlctl_command()
    folder = Path(tempfile.mkdtemp(prefix="mlctl-bench-explain-"))
    spec = write_spec(folder)
    with testbed() as bed:
        env["KUBECONFIG"] = str(bed.kubeconfig)
        namespace = new_namespace(bed, "bench-explain")
        try:
            events = fill_events(bed.api, namespace, args.pods)
            started = subprocess.run(
                [*mlctl, "run", str(spec), "--detach", "-n", namespace],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            run_id = started.stdout.strip()
            wait_unschedulable(bed.api, namespace, run_id)
            command = [*mlctl, "runs", "explain", run_id, "-n", namespace, "-o", "json"]
            check = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            reasons = [b["reason"] for b in yaml.safe_load(check.stdout)["blockers"]]
            baseline = [*mlctl, "runs", "get", run_id, "-n", namespace, "-o", "json"]
            whole, plain = median_seconds([command, baseline], args.runs, env)

            from mlctl.cluster import client
            from mlctl.runs.cluster import gather

            cluster = client.connect(str(bed.kubeconfig), namespace=namespace)
            inner = []
            for _ in range(args.runs):
                start = time.perf_counter()
                gather.run(cluster, run_id, namespace)
                inner.append(time.perf_counter() - start)
        finally:
            delete_namespace(bed, namespace)
    verdict = "ok" if whole <= GOAL else f"MISSED (goal <= {GOAL:g} s)"
    print(f"namespace with {events} events of {args.pods} other pods; the run's blockers: {', '.join(reasons)}")
    print(f"mlctl runs explain (fresh process): median {whole:.2f} s  {verdict}")
    print(f"explanation alone (reads + pure step, in process): median {statistics.median(inner) * 1000:.0f} ms")
    print(f"for scale, mlctl runs get of the same run (fresh process): median {plain:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
