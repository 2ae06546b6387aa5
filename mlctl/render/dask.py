"""Kind ``dask``: a ``DaskCluster`` of the Dask Kubernetes operator, and its autoscaler.

A dask function is a service, not a run: rendering needs no run id. The
cluster (``kubernetes.dask.org/v1``) has a scheduler pod behind a Service
(``service_type``; ``ClusterIP`` unless set, ``NodePort`` when ``node_port``
is given, which MLRun puts on the dashboard port) and a worker group running
``dask worker --nthreads N`` (plus ``--memory-limit`` from the worker's memory
limit, as MLRun does). Sizes:

- ``replicas`` fixes the number of workers; no autoscaler.
- otherwise ``min_replicas``..``max_replicas`` (MLRun's defaults 0..16)
  become a ``DaskAutoscaler``, which adapts the worker count to the load.

``scheduler_timeout`` becomes the operator's ``idleTimeout``: the operator
deletes a cluster whose scheduler has been idle that long. (The scheduler's
own ``--idle-timeout`` would only end the scheduler process, which the
operator then restarts.) Resources come from ``scheduler_resources`` and
``worker_resources`` (the latter falling back to ``resources``), over the
configured default pod resources. The handler itself is not run here: the
code is not shipped to the cluster. Pure: no cluster access, no kubernetes
import.
"""

from __future__ import annotations

from typing import Any

from mlctl.config import Config
from mlctl.errors import InvalidInput
from mlctl.kube import kinds
from mlctl.render import kube_serving
from mlctl.render import pod as pod_
from mlctl.render.context import RenderContext
from mlctl.spec import durations, quantity
from mlctl.spec.model import FunctionSpec, k8s_name, thaw

DEFAULT_IMAGE = "daskdev/dask:latest"
SCHEDULER_PORT = 8786
DASHBOARD_PORT = 8787
WORKER_DASHBOARD_PORT = 8788
# The operator names the scheduler Service <cluster>-scheduler (a DNS label).
NAME_LIMIT = 53


def render(fn: FunctionSpec, config: Config, ctx: RenderContext) -> list[dict[str, Any]]:
    pod = pod_.build(fn, config, ctx.namespace)
    objects: list[dict[str, Any]] = list(pod.extra_objects)
    name = cluster_name(fn)
    scheduler, worker = _containers(fn, config, pod)

    pod_spec = {k: v for k, v in pod.spec.items() if k != "volumes"}
    volumes = [v for v in pod.spec.get("volumes", []) if v.get("name") != pod_.CODE_VOLUME]
    if volumes:
        pod_spec["volumes"] = volumes
    metadata: dict[str, Any] = {"labels": dict(pod.labels)}
    if pod_.pod_annotations(fn):  # the function's annotations reach the scheduler and worker pods
        metadata["annotations"] = pod_.pod_annotations(fn)
    low, high, fixed = worker_bounds(fn)
    spec: dict[str, Any] = {
        "worker": {
            "replicas": fixed if fixed is not None else low,
            "metadata": metadata,
            "spec": {**pod_spec, "containers": [worker]},
        },
        "scheduler": {
            "metadata": metadata,
            "spec": {**pod_spec, "containers": [scheduler]},
            "service": _service(fn, name),
        },
    }
    idle = idle_timeout(fn)
    if idle:
        spec["idleTimeout"] = idle
    cluster = {
        **kinds.DASK_CLUSTER.header(),
        "metadata": {"name": name, "namespace": ctx.namespace, "labels": dict(pod.labels)},
        "spec": spec,
    }
    objects.append(cluster)
    if fixed is None:
        objects.append(
            {
                **kinds.DASK_AUTOSCALER.header(),
                "metadata": {"name": name, "namespace": ctx.namespace, "labels": dict(pod.labels)},
                "spec": {"cluster": name, "minimum": low, "maximum": high},
            }
        )
    return objects


def _containers(fn: FunctionSpec, config: Config, pod: pod_.Pod) -> tuple[dict[str, Any], dict[str, Any]]:
    """The scheduler's container and the workers' (the same image, environment and mounts)."""
    base = _base_container(fn, pod)
    scheduler = {
        **base,
        "name": "scheduler",
        "args": ["dask", "scheduler", "--host", "0.0.0.0"],
        "ports": [
            {"name": "tcp-comm", "containerPort": SCHEDULER_PORT, "protocol": "TCP"},
            {"name": "http-dashboard", "containerPort": DASHBOARD_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": {"httpGet": {"port": "http-dashboard", "path": "/health"}, "periodSeconds": 5},
    }
    _set_resources(scheduler, _resources(fn, config, "scheduler_resources"))
    worker_resources = _resources(fn, config, "worker_resources" if fn.get("worker_resources") else "resources")
    worker = {
        **base,
        "name": "worker",
        "args": worker_args(fn, worker_resources),
        "ports": [{"name": "http-dashboard", "containerPort": WORKER_DASHBOARD_PORT, "protocol": "TCP"}],
    }
    _set_resources(worker, worker_resources)
    return kube_serving.ordered(scheduler), kube_serving.ordered(worker)


def cluster_name(fn: FunctionSpec) -> str:
    return k8s_name(fn.full_name, limit=NAME_LIMIT)


def worker_bounds(fn: FunctionSpec) -> tuple[int, int, int | None]:
    """(minimum, maximum, fixed): ``fixed`` is the worker count when there is no range."""
    replicas = fn.get("replicas")
    low = int(fn.get("min_replicas", 0))
    high = int(fn.get("max_replicas", 16))
    if replicas:
        return int(replicas), int(replicas), int(replicas)
    if low > high:
        raise InvalidInput(f"{fn.source}: min_replicas {low} is above max_replicas {high}")
    if low == high:
        return low, high, low
    return low, high, None


def worker_args(fn: FunctionSpec, resources: dict[str, Any]) -> list[str]:
    # the operator sets DASK_WORKER_NAME and DASK_SCHEDULER_ADDRESS in worker pods
    args = [
        "dask",
        "worker",
        "--name",
        "$(DASK_WORKER_NAME)",
        "--nthreads",
        str(int(fn.get("nthreads", 1))),
        "--dashboard-address",
        str(WORKER_DASHBOARD_PORT),
    ]
    memory = (resources.get("limits") or {}).get("memory")
    if memory:
        args += ["--memory-limit", str(memory)]
    return args + [str(a) for a in fn.get("args") or []]


def idle_timeout(fn: FunctionSpec) -> int:
    """Seconds of ``scheduler_timeout`` (MLRun's default 60 minutes); 0 = never."""
    text = fn.get("scheduler_timeout", "60 minutes")
    try:
        seconds = durations.parse_seconds(text)
    except durations.TimeStringError as exc:
        raise InvalidInput(f"{fn.source}: spec.scheduler_timeout: {exc}") from None
    return 0 if seconds < 0 else int(seconds)


def _base_container(fn: FunctionSpec, pod: pod_.Pod) -> dict[str, Any]:
    """The shared container without what runs a handler: the dask image's entrypoint stays."""
    container = {k: v for k, v in pod.container.items() if k not in ("command", "args", "resources")}
    container["image"] = fn.image or DEFAULT_IMAGE
    env = [e for e in container.pop("env", []) if e.get("name") != pod_.RUN_ENV]
    extra_pip = fn.get("extra_pip")
    if extra_pip:
        # the dask images install EXTRA_PIP_PACKAGES when they start
        packages = " ".join(extra_pip) if isinstance(extra_pip, list | tuple) else str(extra_pip)
        env = [e for e in env if e.get("name") != "EXTRA_PIP_PACKAGES"]
        env.append({"name": "EXTRA_PIP_PACKAGES", "value": packages})
    if env:
        container["env"] = env
    mounts = [m for m in container.pop("volumeMounts", []) if m.get("name") != pod_.CODE_VOLUME]
    if mounts:
        container["volumeMounts"] = mounts
    return container


def _resources(fn: FunctionSpec, config: Config, key: str) -> dict[str, Any]:
    defaults = config.get("default_function_pod_resources") or {}
    raw = thaw(fn.get(key)) or {}
    out: dict[str, Any] = {}
    for section in ("requests", "limits"):
        values = {**(defaults.get(section) or {}), **(raw.get(section) or {})}
        # the Dask CRD types every quantity as a string (no int-or-string there)
        cleaned = {str(k): str(quantity.to_manifest(v)) for k, v in values.items() if v not in (None, "")}
        if cleaned:
            out[section] = cleaned
    return out


def _set_resources(container: dict[str, Any], resources: dict[str, Any]) -> None:
    if resources:
        container["resources"] = resources


def _service(fn: FunctionSpec, name: str) -> dict[str, Any]:
    node_port = fn.get("node_port")
    service_type = str(fn.get("service_type") or ("NodePort" if node_port else "ClusterIP"))
    dashboard: dict[str, Any] = {
        "name": "http-dashboard",
        "protocol": "TCP",
        "port": DASHBOARD_PORT,
        "targetPort": "http-dashboard",
    }
    if node_port:
        if service_type != "NodePort":
            raise InvalidInput(f"{fn.source}: spec.node_port needs service_type NodePort, not {service_type}")
        dashboard["nodePort"] = int(node_port)
    return {
        "type": service_type,
        "selector": {"dask.org/cluster-name": name, "dask.org/component": "scheduler"},
        "ports": [{"name": "tcp-comm", "protocol": "TCP", "port": SCHEDULER_PORT, "targetPort": "tcp-comm"}, dashboard],
    }
