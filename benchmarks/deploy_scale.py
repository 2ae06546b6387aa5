"""Deploying 50 and 500 functions: ``mlctl deploy`` against ``kubectl apply --server-side``, and memory.

    python benchmarks/deploy_scale.py [--counts 50,500] [--runs N]

Each function is a nuclio function on the kubernetes engine: four objects
(ConfigMap, Service, Deployment, HorizontalPodAutoscaler), so 500 functions
are 2,000 objects. For each count, N rounds (after one warm-up round), each
tool into a fresh namespace: the create (``mlctl deploy f1.yaml ...`` with
its all-or-nothing preflight, and ``kubectl apply --server-side`` of the
manifests ``mlctl deploy --dry-run=client`` prints for that namespace), then
the same command again with nothing to change. Printed: median wall times,
the ratios, and mlctl's peak RSS. Goals: create at most 1.0x kubectl's time,
an unchanged redeploy at most 0.3x kubectl's, at most 300 MB, for 500
functions (smaller counts print figures only).

The testbed gets 50 bulk nodes of 250 pods and a control plane allowed 200
requests/s, unless ``MLCTL_TESTBED_KUBECONFIG`` names a running one. A
figure, not a test: exits 0 either way.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _cluster import delete_namespace, kubectl, new_namespace, testbed
from _timing import environment, mlctl_command, peak_rss_mb, under_time
from deploy_50 import write_functions

CREATE_GOAL = 1.0
UNCHANGED_GOAL = 0.3
MEMORY_GOAL_MB = 300
GOALS_AT = 500  # functions


def _verdict(judged: bool, met: bool, goal: str) -> str:
    if not judged:
        return ""
    return "ok" if met else f"MISSED (goal <= {goal})"


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one command, which must succeed."""
    report = Path(tempfile.mkstemp(prefix="mlctl-bench-rss-")[1])
    start = time.perf_counter()
    done = subprocess.run(under_time(command, report), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          check=False)  # fmt: skip
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed ({done.returncode}):\n{done.stderr.decode()[-2000:]}")
    return elapsed, peak_rss_mb(report)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="50,500", help="functions per deploy (default 50,500)")
    parser.add_argument("--runs", type=int, default=3, help="measured rounds per count (default 3)")
    args = parser.parse_args()
    env = environment()
    mlctl = mlctl_command()
    folder = Path(tempfile.mkdtemp(prefix="mlctl-bench-deploy-scale-"))
    lines = []
    with testbed(bulk_nodes=50, pods_per_node=250, client_qps=200) as bed:
        env["KUBECONFIG"] = str(bed.kubeconfig)
        for count in (int(c) for c in args.counts.split(",")):
            where = folder / str(count)
            where.mkdir()
            files = [str(p) for p in write_functions(where, "serving", count)]
            figures: dict[str, list[float]] = {key: [] for key in ("mlctl", "kubectl", "mlctl again", "kubectl again")}
            memory: list[float] = []
            objects = 0
            for run in range(args.runs + 1):  # the first round warms both up and is not counted
                for tool in ("mlctl", "kubectl") if run % 2 == 0 else ("kubectl", "mlctl"):
                    namespace = new_namespace(bed, f"bench-{tool}")
                    command = [*mlctl, "deploy", *files, "--engine", "kubernetes", "-n", namespace]
                    if tool == "kubectl":
                        manifest = where / f"{namespace}.yaml"
                        rendered = subprocess.run([*command, "--dry-run=client", "--show-secrets"], env=env,
                                                  capture_output=True, text=True, check=True)  # fmt: skip
                        manifest.write_text(rendered.stdout)
                        objects = sum(1 for d in yaml.safe_load_all(rendered.stdout) if d)
                        command = [str(kubectl()), "apply", "--server-side", "--field-manager", "bench",
                                   "-f", str(manifest), "-n", namespace]  # fmt: skip
                    try:
                        first, rss_first = timed(command, env)
                        again, rss_again = timed(command, env)
                    finally:
                        delete_namespace(bed, namespace, wait=600)  # the next measurement starts on a quiet cluster
                    if run:
                        figures[tool].append(first)
                        figures[f"{tool} again"].append(again)
                        if tool == "mlctl":
                            memory += [rss_first, rss_again]
            median = {key: statistics.median(values) for key, values in figures.items()}
            create = median["mlctl"] / median["kubectl"]
            unchanged = median["mlctl again"] / median["kubectl again"]
            judged = count >= GOALS_AT  # the goals are for 500 functions; smaller counts are figures only
            lines += [
                f"{count} functions, {objects} objects:",
                f"  create     mlctl deploy {median['mlctl']:6.2f} s   kubectl apply --server-side "
                f"{median['kubectl']:6.2f} s   {create:4.2f}x  "
                + _verdict(judged, create <= CREATE_GOAL, f"{CREATE_GOAL}x"),
                f"  no change  mlctl deploy {median['mlctl again']:6.2f} s   kubectl apply --server-side "
                f"{median['kubectl again']:6.2f} s   {unchanged:4.2f}x  "
                + _verdict(judged, unchanged <= UNCHANGED_GOAL, f"{UNCHANGED_GOAL}x"),
                f"  mlctl peak RSS {max(memory):.0f} MB  "
                + _verdict(judged, max(memory) <= MEMORY_GOAL_MB, f"{MEMORY_GOAL_MB} MB"),
            ]
            print("\n".join(lines[-4:]), file=sys.stderr)
    print(f"deploy, serving functions on the kubernetes engine; median of {args.runs} rounds; {bed.server}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
