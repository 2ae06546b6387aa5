"""Runs inside the MLRun venv (never imported by mlctl's own tests).

``python driver.py export DIR`` builds one function of every kind offline
with the MLRun SDK calls users make (set_env, set_envs, with_requests,
with_limits with gpu_type, with_http, add_v3io_stream_trigger, mount_v3io,
mount_pvc, mount_secret, with_preemption_mode, with_priority_class,
with_node_selection, set_state_thresholds), writes ``<name>.yaml`` with
``fn.export()`` and ``<name>.full.yaml`` with ``fn.to_yaml()``, and writes
``expected.json``: what MLRun's own code would put on the pods (the
preemption enrichment of ``mlrun.k8s_utils`` with the profile given in the
environment, env, resources, volumes, priority class). It also writes run
templates (``mlrun.new_task`` with ``retry`` and state thresholds, and a
whole ``RunObject``) to ``tasks/<name>.yaml`` with ``to_yaml()``, and what
the SDK holds of each to ``tasks/expected.json``.

``python driver.py serve`` reads file paths from stdin, one a line, loads
each with ``mlrun.import_function`` and answers with one line of JSON: the
values the function holds (or the error), and the connection attempts so far.

Every socket connection attempt is refused and recorded; ``network.json``
(export) or the ``network`` key (load) lists them, so the tests can check
that MLRun stayed offline.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

# The settings mlctl gets too (tests read them from expected.json): a spot
# profile without tolerations, so 'prevent' has to keep pods off spot nodes
# by node affinity, and an allow-list of priority classes.
SETTINGS = {
    "MLRUN_PREEMPTIBLE_NODES__NODE_SELECTOR": base64.b64encode(b'{"node-lifecycle": "spot"}').decode(),
    "MLRUN_VALID_FUNCTION_PRIORITY_CLASS_NAMES": "default-priority,high",
}
os.environ.update(SETTINGS)
os.environ["MLRUN_DBPATH"] = ""
ATTEMPTS: list[str] = []
_connect = socket.socket.connect


def _refuse(self: socket.socket, address: Any) -> None:
    if self.family == getattr(socket, "AF_UNIX", None):
        _connect(self, address)
        return
    ATTEMPTS.append(repr(address))
    raise OSError("network access is refused while MLRun builds functions offline")


_getaddrinfo = socket.getaddrinfo


def _no_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host in (None, "localhost", "127.0.0.1", "::1"):
        return _getaddrinfo(host, *args, **kwargs)
    ATTEMPTS.append(f"lookup {host}")
    raise OSError("name lookups are refused while MLRun builds functions offline")


socket.getaddrinfo = _no_lookup  # type: ignore[assignment]
socket.socket.connect = _refuse  # type: ignore[method-assign]
socket.socket.connect_ex = lambda self, address: _refuse(self, address) or 1  # type: ignore[method-assign,assignment]

import mlrun  # noqa: E402
import mlrun.k8s_utils  # noqa: E402
from mlrun.runtimes.mounts import mount_pvc, mount_secret, mount_v3io  # noqa: E402

ACCESS_KEY = "abc123-v3io-key"
SPOT_AFFINITY = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {
                    "matchExpressions": [
                        {"key": "node-lifecycle", "operator": "In", "values": ["spot"]},
                        {"key": "zone", "operator": "In", "values": ["a"]},
                    ]
                }
            ]
        }
    }
}


def _common(fn: Any) -> None:
    fn.set_env("MY_ENV", "MY_VAL")
    fn.set_envs(env_vars={"SECOND_ENV": "SECOND_VAL", "THIRD_ENV": "3"})
    if fn.kind == "dask":
        fn.with_worker_requests(mem="1G", cpu=1)
        fn.with_worker_limits(mem="2G", cpu=2, gpus=1, gpu_type="nvidia.com/gpu")
        fn.with_scheduler_requests(mem="1G", cpu="500m")
    else:
        fn.with_requests(mem="1G", cpu=1)
        fn.with_limits(mem="2G", cpu=2, gpus=1, gpu_type="nvidia.com/gpu")
    fn.with_priority_class(name="default-priority")
    fn.with_node_selection(node_selector={"app.iguazio.com/lifecycle": "non-preemptible"})
    fn.with_preemption_mode("prevent")
    fn.apply(mount_pvc(pvc_name="data-claim", volume_name="data", volume_mount_path="/data"))
    fn.apply(
        mount_v3io(
            name="v3io",
            access_key=ACCESS_KEY,
            user="admin",
            volume_mounts=[mlrun.VolumeMount("/v3io-data", "projects/proj1/data")],
        )
    )
    fn.apply(mount_secret("creds", "/etc/creds"))


def _functions() -> dict[str, Any]:
    code = Path(__file__).with_name("handler.py")
    out: dict[str, Any] = {}

    job = mlrun.code_to_function("trainer", project="demo", kind="job", filename=str(code), handler="train",
                                 image="python:3.11")  # fmt: skip
    _common(job)
    job.set_state_thresholds({"pending_not_scheduled": "1 min", "image_pull_backoff": "1 minute and 30s"})
    out["job"] = job

    mpi = mlrun.new_function("mpi", project="demo", kind="mpijob", image="mlrun/mlrun", command="train.py")
    _common(mpi)
    mpi.spec.replicas = 3
    out["mpijob"] = mpi

    dask = mlrun.new_function("dask", project="demo", kind="dask", image="daskdev/dask")
    _common(dask)
    dask.spec.min_replicas, dask.spec.max_replicas = 1, 4
    out["dask"] = dask

    nuclio = mlrun.code_to_function("nuc", project="demo", kind="nuclio", filename=str(code), handler="handler",
                                    image="mlrun/mlrun")  # fmt: skip
    _common(nuclio)
    nuclio.with_http(workers=1, worker_timeout=10)
    nuclio.add_v3io_stream_trigger("v3io:///projects/demo/stream1", name="stream", group="serving", shards=1)
    out["nuclio"] = nuclio

    serving = mlrun.code_to_function("srv", project="demo", kind="serving", filename=str(code), image="mlrun/mlrun")
    graph = serving.set_topology("flow", engine="async")
    graph.to(name="double", handler="double").respond()
    _common(serving)
    serving.with_http(workers=1)
    out["serving"] = serving

    app = mlrun.new_function("app", project="demo", kind="application", image="example/app:1")
    _common(app)
    out["application"] = app

    spark = mlrun.new_function("etl", project="demo", kind="spark", image="example/spark:1", command="spark.py")
    spark.set_env("MY_ENV", "MY_VAL")
    spark.with_driver_requests(mem="4G", cpu=1)
    spark.with_executor_requests(mem="2g", cpu=1)
    spark.with_node_selection(node_selector={"app.iguazio.com/lifecycle": "non-preemptible"})
    spark.with_driver_preemption_mode("prevent")
    spark.with_executor_preemption_mode("allow")
    spark.with_priority_class(name="default-priority")
    spark.set_state_thresholds({"pending_not_scheduled": "1 min"})
    out["spark"] = spark

    # preemption: a user's own required term that also demands the spot label
    spot = mlrun.new_function("spot", project="demo", kind="job", image="python:3.11")
    spot.with_node_selection(affinity=_affinity(SPOT_AFFINITY))
    spot.with_preemption_mode("prevent")
    out["spot"] = spot
    for mode in ("allow", "constrain", "none"):
        fn = mlrun.new_function(f"mode-{mode}", project="demo", kind="job", image="python:3.11")
        fn.with_node_selection(node_selector={"team": "ml"})
        fn.with_preemption_mode(mode)
        out[f"mode-{mode}"] = fn

    # the access key MLRun keeps with the function's metadata
    keyed = mlrun.new_function("keyed", project="demo", kind="job", image="python:3.11")
    keyed.metadata.credentials.access_key = ACCESS_KEY
    out["keyed"] = keyed
    return out


def _affinity(data: dict[str, Any]) -> Any:
    import kubernetes.client

    api = kubernetes.client.ApiClient()

    class _Response:
        def __init__(self, body: str) -> None:
            self.data = body

    return api.deserialize(_Response(json.dumps(data)), "V1Affinity")


def _plain(value: Any) -> Any:
    """A Kubernetes client object (or a mix) as the camelCase dict of a manifest."""
    import kubernetes.client

    return kubernetes.client.ApiClient().sanitize_for_serialization(value)


def _expected(fn: Any) -> dict[str, Any]:
    spec = fn.spec
    selector, tolerations, affinity = mlrun.k8s_utils.enrich_preemption_mode(
        spec.preemption_mode, spec.node_selector, spec.tolerations, spec.affinity
    )
    return {
        "kind": fn.kind,
        "preemption_mode": spec.preemption_mode,
        "node_selector": _plain(selector) or {},
        "tolerations": _plain(tolerations) or [],
        "affinity": _plain(affinity),
        "priority_class_name": spec.priority_class_name,
        "env": _plain(spec.env),
        "resources": _plain(getattr(spec, "resources", None)),
        "volumes": _plain(getattr(spec, "volumes", None)),
        "volume_mounts": _plain(getattr(spec, "volume_mounts", None)),
        "state_thresholds": getattr(spec, "state_thresholds", None),
    }


def _tasks() -> dict[str, Any]:
    """Run templates as users write them: the run's parameters, retry and thresholds."""
    train = mlrun.new_task(
        name="train", params={"epochs": 3, "lr": 0.1}, retry={"count": 3, "backoff": {"base_delay": "1m"}}
    )
    train.spec.state_thresholds = {"executing": "1h", "pending_scheduled": "10m"}
    defaults = mlrun.new_task(name="defaults", handler="train", retry={"count": 2})
    once = mlrun.new_task(name="once", params={"a": 1})
    run = mlrun.run.RunObject.from_template(train)
    return {"train": train, "defaults": defaults, "once": once, "run-object": run}


def _task_expected(task: Any) -> dict[str, Any]:
    retry = task.spec.retry
    return {
        "count": retry.count,
        "base_delay": retry.backoff.base_delay if retry.backoff else None,
        "parameters": _plain(task.spec.parameters),
        "state_thresholds": _plain(task.spec.state_thresholds),
    }


def export(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, Any] = {}
    for name, fn in _functions().items():
        fn.export(str(folder / f"{name}.yaml"))
        (folder / f"{name}.full.yaml").write_text(fn.to_yaml(), encoding="utf-8")
        expected[name] = _expected(fn)
    expected = {"settings": SETTINGS, "functions": expected}
    (folder / "expected.json").write_text(json.dumps(expected, indent=1, default=str), encoding="utf-8")
    tasks = folder / "tasks"
    tasks.mkdir()
    held = {}
    for name, task in _tasks().items():
        (tasks / f"{name}.yaml").write_text(task.to_yaml(), encoding="utf-8")
        held[name] = _task_expected(task)
    (tasks / "expected.json").write_text(json.dumps(held, indent=1, default=str), encoding="utf-8")
    (folder / "network.json").write_text(json.dumps(ATTEMPTS), encoding="utf-8")


def serve() -> None:
    for line in sys.stdin:
        answer: dict[str, Any] = {}
        try:
            fn = mlrun.import_function(line.strip())
            answer = {"kind": fn.kind, "metadata": fn.metadata.to_dict(), "spec": fn.spec.to_dict()}
        except Exception as error:  # the test reports it
            answer = {"error": f"{type(error).__name__}: {error}"}
        answer["network"] = ATTEMPTS
        sys.stdout.write(json.dumps(answer, default=str) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    if sys.argv[1] == "export":
        export(Path(sys.argv[2]))
    else:
        serve()
