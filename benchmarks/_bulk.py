"""Thousands of live runs for the monitor benchmarks, and a monitor in a child process that reports on itself.

Not a test; the benchmark scripts print figures. Runs are the Jobs
``mlctl run --detach`` creates, rendered by mlctl and created through the
API in bulk, many at once; their pods stay Running on the testbed's fake
nodes (``mlctl.test/run-duration`` of an hour).
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _timing import REPO

CREATE_AT_ONCE = 32  # requests in flight while creating runs (the testbed has 2 cores: more only queues)
LIVE_SPEC = """\
kind: job
metadata:
  name: live
  project: bench
  annotations:
    mlctl.test/run-duration: 1h
spec:
  image: python:3.11-slim
  command: python -c pass
"""

# The monitor as ``mlctl monitor`` runs it (``mlctl.runs.cluster.monitor.watch`` on a connection of its own),
# printing JSON lines: every few seconds the requests it has sent, its memory (VmRSS, and VmHWM, the peak)
# and CPU time; when each kind's first list is in; each abort, as the command would say it.
MONITOR = """
import json, sys, threading, time
from mlctl.cluster import client
from mlctl.runs.cluster import monitor

kubeconfig, where, every = sys.argv[1], sys.argv[2], float(sys.argv[3])
cluster = client.connect(kubeconfig, namespace=None if where == "-" else where)
lock = threading.Lock()

def say(**line):
    with lock:
        print(json.dumps({"t": time.monotonic(), **line}), flush=True)

def memory():
    found = {}
    for line in open("/proc/self/status"):
        if line.startswith(("VmRSS:", "VmHWM:")):
            found[line.split(":")[0]] = int(line.split()[1])
    return found

def report():
    while True:
        status = memory()
        say(requests=cluster.requests_made, rss_kb=status["VmRSS"], hwm_kb=status["VmHWM"], cpu=time.process_time())
        time.sleep(every)

relist = monitor.PodFeed.relist
def timed(feed):
    version = relist(feed)
    say(listed=feed.kind + " " + feed.api_version)
    return version
monitor.PodFeed.relist = timed

say(started=True)
threading.Thread(target=report, daemon=True).start()
monitor.watch(
    cluster,
    all_namespaces=where == "-",
    on_abort=lambda run_id, namespace, text: say(abort=run_id, namespace=namespace, wall=time.time()),
)
"""


def render_runs(namespaces: list[str], first: int, count: int) -> list[Any]:
    """``count`` runs' objects, numbered from ``first``, spread over ``namespaces`` in turn."""
    from mlctl import pipeline
    from mlctl.render.context import RenderContext
    from mlctl.spec import config_files

    spec = Path(tempfile.mkdtemp(prefix="mlctl-bench-runs-")) / "live.yaml"
    spec.write_text(LIVE_SPEC)
    config = config_files.load(environ={})
    loaded = pipeline.load(str(spec), config)
    return [
        obj
        for index in range(first, first + count)
        for obj in pipeline.render(
            loaded, config, RenderContext(namespace=namespaces[index % len(namespaces)], run_id=f"{index:08x}")
        )
    ]


def create(cluster: Any, objects: list[Any]) -> None:
    from mlctl.cluster import client

    client.concurrently(cluster.apply, objects, workers=CREATE_AT_ONCE)


def running_pods(cluster: Any) -> int:
    """Run pods Running in every namespace, counted a page at a time (nothing kept)."""
    listing = cluster.snapshot(
        "v1", "Pod", None, selector="mlctl.io/run-id", field_selector="status.phase=Running", page_size=500,
        keep=lambda _pod: {},
    )  # fmt: skip
    return len(listing.items)


def wait_running(cluster: Any, count: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    found = running_pods(cluster)
    while found < count and time.monotonic() < deadline:
        time.sleep(5)
        found = running_pods(cluster)
        print(f"  {found} of {count} pods Running", file=sys.stderr)
    return found


class Monitor:
    """The child monitor; its lines arrive on a queue as it prints them."""

    def __init__(self, kubeconfig: Path, where: str, env: dict[str, str], every: float = 5.0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", MONITOR, str(kubeconfig), where, str(every)],
            env=env, cwd=REPO, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.started = time.monotonic()
        self.peak_mb = 0.0  # the highest resident memory it reported (VmHWM)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for text in self.process.stdout:
            line = json.loads(text)
            self.peak_mb = max(self.peak_mb, line.get("hwm_kb", 0) / 1024)
            self.lines.put(line)
        self.lines.put({"ended": True, "t": time.monotonic()})

    def next(self, timeout: float = 600.0) -> dict[str, Any]:
        line = self.lines.get(timeout=timeout)
        if line.get("ended"):
            raise SystemExit("the monitor ended early")
        return line

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
