"""Deploying 50 functions: ``mlctl deploy`` against ``kubectl apply --server-side`` of the same manifests.

    python benchmarks/deploy_50.py [--runs N] [--functions N]

Two workloads of 50 functions each, written to a temporary folder:

- ``job``: functions with embedded code (one ConfigMap each; the preflight
  also dry-runs the Job every run of them would create);
- ``serving``: nuclio functions on the kubernetes engine (ConfigMap,
  Service, Deployment, HorizontalPodAutoscaler each).

For each, the median wall time of N fresh processes, every run into a fresh
namespace (so everything is created): ``mlctl deploy f1.yaml ... f50.yaml``
(with its all-or-nothing preflight), and ``kubectl apply --server-side`` of
the manifests ``mlctl deploy --dry-run=client`` prints for that namespace.
Then the same with every object already there (nothing changes). The goal
is mlctl at most 1.2x kubectl's time.

Starts its own testbed unless ``MLCTL_TESTBED_KUBECONFIG`` names a running
one. A figure, not a test: exits 0 either way.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from _cluster import delete_namespace, kubectl, new_namespace, testbed
from _timing import environment, mlctl_command

GOAL = 1.2
JOB_CODE = 'def handler(context=None, x=1):\n    return {"y": x + %d}\n'
SERVING_CODE = 'def handler(context, event):\n    return "function %d"\n'


def write_functions(folder: Path, workload: str, count: int) -> list[Path]:
    paths = []
    for index in range(count):
        name = f"{workload}-{index:02d}"
        source = base64.b64encode(((JOB_CODE if workload == "job" else SERVING_CODE) % index).encode()).decode()
        if workload == "job":
            document = {"kind": "job", "metadata": {"name": name, "project": "bench"},
                        "spec": {"image": "python:3.11-slim", "default_handler": "handler",
                                 "build": {"functionSourceCode": source, "origin_filename": f"{name}.py"}}}  # fmt: skip
        else:
            document = {"kind": "remote", "metadata": {"name": name, "project": "bench"},
                        "spec": {"image": "python:3.11-slim", "default_handler": "handler",
                                 "min_replicas": 1, "max_replicas": 3,
                                 "build": {"functionSourceCode": source}}}  # fmt: skip
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(document))
        paths.append(path)
    return paths


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per command (default 5)")
    parser.add_argument("--functions", type=int, default=50, help="functions per workload (default 50)")
    args = parser.parse_args()
    env = environment()
    mlctl = mlctl_command()
    folder = Path(tempfile.mkdtemp(prefix="mlctl-bench-deploy-"))
    with testbed() as bed:
        env["KUBECONFIG"] = str(bed.kubeconfig)
        print(f"{args.functions} functions per workload; {args.runs} runs each; median wall time; {bed.server}")
        for workload in ("job", "serving"):
            files = [str(p) for p in write_functions(folder, workload, args.functions)]
            engine = ["--engine", "kubernetes"] if workload == "serving" else []
            created: dict[str, list[float]] = {"mlctl": [], "kubectl": []}
            unchanged: dict[str, list[float]] = {"mlctl": [], "kubectl": []}
            objects = 0
            namespaces: list[str] = []

            def mlctl_deploy(namespace: str, files: list[str] = files, engine: list[str] = engine) -> list[str]:
                return [*mlctl, "deploy", *files, *engine, "-n", namespace]

            def kubectl_apply(
                namespace: str, files: list[str] = files, engine: list[str] = engine, workload: str = workload
            ) -> list[str]:
                manifest = folder / f"{workload}-{namespace}.yaml"
                if not manifest.exists():
                    rendered = subprocess.run([*mlctl, "deploy", *files, *engine, "-n", namespace,
                                               "--dry-run=client", "--show-secrets"],
                                              env=env, capture_output=True, text=True, check=True)  # fmt: skip
                    manifest.write_text(rendered.stdout)
                return [str(kubectl()), "apply", "--server-side", "--field-manager", "bench", "-f", str(manifest),
                        "-n", namespace]  # fmt: skip

            tools: list[tuple[str, Callable[[str], list[str]]]] = [("mlctl", mlctl_deploy), ("kubectl", kubectl_apply)]
            try:
                for run in range(args.runs + 1):  # the first round warms both up and is not counted
                    order = tools if run % 2 == 0 else tools[::-1]
                    for name, command in order:
                        namespace = new_namespace(bed, f"bench-{name}")
                        namespaces.append(namespace)
                        argv = command(namespace)
                        first = timed(argv, env)
                        again = timed(argv, env)
                        if run:
                            created[name].append(first)
                            unchanged[name].append(again)
                        if name == "kubectl" and not objects:
                            documents = yaml.safe_load_all(Path(argv[argv.index("-f") + 1]).read_text())
                            objects = sum(1 for d in documents if d)
                        # the next measurement starts on a quiet cluster
                        delete_namespace(bed, namespace, wait=120)
            finally:
                for namespace in namespaces:
                    delete_namespace(bed, namespace)
            print(f"\n{workload}: {args.functions} functions, {objects} objects")
            for label, figures in (("create", created), ("no change", unchanged)):
                ours = statistics.median(figures["mlctl"])
                theirs = statistics.median(figures["kubectl"])
                ratio = ours / theirs
                verdict = "ok" if ratio <= GOAL else f"MISSED (goal <= {GOAL}x)"
                print(f"  {label:<10} mlctl deploy {ours:6.2f} s   kubectl apply --server-side {theirs:6.2f} s"
                      f"   ratio {ratio:4.2f}x  {verdict}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
