"""How long after a run breaks its state threshold it is aborted.

    python benchmarks/abort_latency.py [--runs N] [--limit SECONDS]

Runs are started detached whose pods can never be scheduled (a node selector
no node matches) with ``pending_not_scheduled`` set to the limit. The limit
passes at the pod's creationTimestamp plus the limit: that is the instant
Kubernetes' own clock says the run is over its threshold (mlctl measures
time in state from those timestamps, so any monitor reaches the same
verdict). From that instant, this script measures, with its own watches on
the API server:

- record aborted: the run's Job carries state ``aborted``;
- pods gone: the last pod of the run is deleted.

Three ways a run is watched:

- ``monitor``: one ``mlctl monitor`` process, runs started a little apart;
- ``burst``: the same monitor, all runs breaking their limit in the same second;
- ``attached``: each run watched by its own ``mlctl run`` (no monitor);
- ``no-pod monitor`` and ``no-pod attached``: the same, in a namespace whose
  ResourceQuota allows no pod, so the Job controller never creates one. The
  limit passes at the Job's creationTimestamp plus the limit, and only the
  record is measured (there are no pods to remove).

Kubernetes timestamps have whole seconds, so the limit instant is known to
the second; mlctl waits for the same instant. Goal: at most 2 s (median and
worst). Starts its own testbed unless ``MLCTL_TESTBED_KUBECONFIG`` is set.
A figure, not a test: exits 0 either way.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from _cluster import delete_namespace, new_namespace, testbed
from _timing import environment, mlctl_command

GOAL = 2.0
RUN_ID = "mlctl.io/run-id"


class Observer:
    """Watches a namespace's pods and Jobs; notes when each run's limit passes, is aborted, loses its pods."""

    def __init__(self, api: Any, namespace: str, limit: float, podless: bool = False) -> None:
        self.api = api
        self.podless = podless
        self.namespace = namespace
        self.limit = limit
        self.limit_at: dict[str, float] = {}
        self.aborted_at: dict[str, float] = {}
        self.pods: dict[str, set[str]] = {}
        self.gone_at: dict[str, float] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        for target in (self._pods, self._jobs):
            threading.Thread(target=target, daemon=True).start()

    def _stream(self, list_call: Any) -> Any:
        from kubernetes import watch

        while not self.stop.is_set():
            for event in watch.Watch().stream(list_call, self.namespace, timeout_seconds=5):
                yield time.time(), event["type"], event["object"]

    def _pods(self) -> None:
        from kubernetes import client

        for now, kind, pod in self._stream(client.CoreV1Api(self.api).list_namespaced_pod):
            run = (pod.metadata.labels or {}).get(RUN_ID)
            if not run:
                continue
            with self.lock:
                created = pod.metadata.creation_timestamp.timestamp()
                self.limit_at.setdefault(run, created + self.limit)
                names = self.pods.setdefault(run, set())
                if kind == "DELETED":
                    names.discard(pod.metadata.name)
                    if not names:
                        self.gone_at.setdefault(run, now)
                else:
                    names.add(pod.metadata.name)

    def _jobs(self) -> None:
        from kubernetes import client

        for now, _, job in self._stream(client.BatchV1Api(self.api).list_namespaced_job):
            run = (job.metadata.labels or {}).get(RUN_ID)
            if run and self.podless:
                with self.lock:
                    self.limit_at.setdefault(run, job.metadata.creation_timestamp.timestamp() + self.limit)
            if run and (job.metadata.annotations or {}).get("mlctl.io/state") == "aborted":
                with self.lock:
                    self.aborted_at.setdefault(run, now)

    def done(self, runs: list[str]) -> bool:
        with self.lock:
            return all(r in self.aborted_at and (self.podless or r in self.gone_at) for r in runs)

    def latencies(self, runs: list[str]) -> tuple[list[float], list[float]]:
        with self.lock:
            aborted = [self.aborted_at[r] - self.limit_at[r] for r in runs if r in self.aborted_at]
            gone = [self.gone_at[r] - self.limit_at[r] for r in runs if r in self.gone_at]
        return aborted, gone


def write_spec(folder: Path) -> Path:
    code = "def handler(context=None):\n    return {}\n"
    path = folder / "stuck.yaml"
    path.write_text(yaml.safe_dump({
        "kind": "job", "metadata": {"name": "stuck", "project": "bench"},
        "spec": {"image": "python:3.11-slim", "default_handler": "handler",
                 "node_selector": {"mlctl.test/pool": "nowhere"},
                 "build": {"functionSourceCode": base64.b64encode(code.encode()).decode()}},
    }))  # fmt: skip
    return path


def start_detached(mlctl: list[str], spec: Path, namespace: str, limit: float, env: dict[str, str]) -> str:
    result = subprocess.run(
        [*mlctl, "run", str(spec), "--detach", "-n", namespace, "--threshold", f"pending_not_scheduled={limit:g}s"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout.strip()


def forbid_pods(api: Any, namespace: str) -> None:
    """A ResourceQuota of zero pods, in force once the quota controller has counted it."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    core.create_namespaced_resource_quota(namespace, {"metadata": {"name": "no-pods"}, "spec": {"hard": {"pods": "0"}}})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if core.read_namespaced_resource_quota("no-pods", namespace).status.hard:
            return
        time.sleep(0.2)


def wait(observer: Observer, runs: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not observer.done(runs) and time.monotonic() < deadline:
        time.sleep(0.2)


def report(mode: str, observer: Observer, runs: list[str]) -> None:
    aborted, gone = observer.latencies(runs)
    print(f"\n{mode}: {len(runs)} runs")
    measured = [("record aborted", aborted)] + ([] if observer.podless else [("pods gone", gone)])
    for label, figures in measured:
        if len(figures) < len(runs):
            print(f"  {label:<15} only {len(figures)} of {len(runs)} runs within the wait: MISSED")
            continue
        median, worst = statistics.median(figures), max(figures)
        verdict = "ok" if worst <= GOAL else f"MISSED (goal <= {GOAL:g} s)"
        print(f"  {label:<15} median {median:5.2f} s   worst {worst:5.2f} s   best {min(figures):5.2f} s  {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per mode (default 10)")
    parser.add_argument("--limit", type=float, default=5.0, help="pending_not_scheduled limit, seconds (default 5)")
    args = parser.parse_args()
    env = environment()
    mlctl = mlctl_command()
    folder = Path(tempfile.mkdtemp(prefix="mlctl-bench-abort-"))
    spec = write_spec(folder)
    with testbed() as bed:
        env["KUBECONFIG"] = str(bed.kubeconfig)
        print(f"limit {args.limit:g} s; {datetime.now().isoformat(timespec='seconds')}; {bed.server}")
        for mode in ("monitor", "burst", "attached", "no-pod monitor", "no-pod attached"):
            podless = mode.startswith("no-pod")
            namespace = new_namespace(bed, f"bench-abort-{mode.replace(' ', '-')}")
            if podless:
                forbid_pods(bed.api, namespace)
            observer = Observer(bed.api, namespace, args.limit, podless)
            children: list[subprocess.Popen[bytes]] = []
            runs: list[str] = []
            try:
                if mode in ("monitor", "burst", "no-pod monitor"):
                    monitor = subprocess.Popen([*mlctl, "monitor", "-n", namespace], env=env,
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
                    children.append(monitor)
                    time.sleep(2)  # started and watching
                    if mode == "burst":  # every run started at once
                        with ThreadPoolExecutor(max_workers=args.runs) as pool:
                            starts = [
                                pool.submit(start_detached, mlctl, spec, namespace, args.limit, env)
                                for _ in range(args.runs)
                            ]
                        runs += [start.result() for start in starts]
                    else:
                        for _ in range(args.runs):
                            runs.append(start_detached(mlctl, spec, namespace, args.limit, env))
                            time.sleep(0.37)  # spread over the second
                else:
                    for _ in range(args.runs):
                        argv = [*mlctl, "run", str(spec), "-n", namespace,
                                "--threshold", f"pending_not_scheduled={args.limit:g}s"]  # fmt: skip
                        children.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                                         stderr=subprocess.PIPE, text=True))  # type: ignore[arg-type]  # fmt: skip
                        time.sleep(0.37)
                    for child in children:
                        _, err = child.communicate(timeout=args.limit + 60)
                        line = next((ln for ln in err.splitlines() if ln.startswith("run ") and "started" in ln), "")
                        if line:
                            runs.append(line.split()[1])
                wait(observer, runs, args.limit + 30)
                report(mode, observer, runs)
            finally:
                observer.stop.set()
                for child in children:
                    child.kill()
                    child.wait()
                delete_namespace(bed, namespace, wait=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
