"""Kind ``spark``: one run is one ``SparkApplication`` of the Kubeflow Spark operator.

``sparkoperator.k8s.io/v1beta2``, mode ``cluster``. With embedded code the
main application file is the bootstrap from the code ConfigMap (mounted in
driver and executors), which runs the handler in the driver, as a job's pod
would; without code, ``spec.command`` names the main file (``local://`` when
it has no scheme; a relative name is taken from ``spec.workdir``, else from
the Spark image's working directory ``/opt/spark/work-dir``) and
``spec.args`` its arguments.

Driver and executors each get: cores (``<side>_cores``, else the CPU request
rounded up), ``coreRequest`` / ``coreLimit`` and memory (JVM notation, ``2g``,
which is what Spark reads) from ``driver_resources`` / ``executor_resources``
over MLRun's defaults, a GPU when the limits ask for one, env, volume mounts
(the shared ones plus their own), the run's labels and annotations, and their
own placement: node selector, tolerations and affinity after their own
preemption mode (``driver_preemption_mode`` ...). A side without its own node
selector, tolerations or affinity uses the function's (MLRun sets both sides
from ``with_node_selection``). ``replicas`` is the executor count;
``dynamic_allocation`` turns on Spark's dynamic allocation. ``spec.node_name``
is refused: the operator places the pods. Pure: no kubernetes import.
"""

from __future__ import annotations

import dataclasses
import math
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from mlctl.config import Config
from mlctl.errors import InvalidInput
from mlctl.kube import kinds
from mlctl.render import pod as pod_
from mlctl.render import run_object
from mlctl.render.context import RenderContext
from mlctl.spec import quantity
from mlctl.spec import retry as retry_
from mlctl.spec.model import FunctionSpec, thaw

DEFAULT_SPARK_VERSION = "3.5.3"
# The working directory of the Spark images (apache/spark's WORKDIR)
SPARK_WORKDIR = "/opt/spark/work-dir"
# MLRun's default_spark_resources (requests and the CPU limit)
DEFAULT_RESOURCES = {
    "driver": {"requests": {"cpu": "1", "memory": "2g"}, "limits": {"cpu": "2"}},
    "executor": {"requests": {"cpu": "1", "memory": "5g"}, "limits": {"cpu": "2"}},
}
DEFAULT_RESTART_POLICY = {
    "type": "OnFailure",
    "retries": 0,
    "retry_interval": 10,
    "submission_retries": 3,
    "submission_retry_interval": 20,
}
_RESTART_FIELDS = {
    "type": "type",
    "retries": "onFailureRetries",
    "retry_interval": "onFailureRetryInterval",
    "submission_retries": "onSubmissionFailureRetries",
    "submission_retry_interval": "onSubmissionFailureRetryInterval",
}
# The driver pod is <app>-driver and its UI service <app>-ui-svc: DNS labels.
NAME_LIMIT = 56
_MIB, _GIB = 2**20, 2**30


def default_image(version: str) -> str:
    return f"apache/spark:{version}-python3"


def render(fn: FunctionSpec, config: Config, ctx: RenderContext) -> list[dict[str, Any]]:
    objects, pod = run_object.function_objects(fn, config, ctx)
    if not ctx.for_run:
        return objects
    if fn.get("node_name"):
        raise InvalidInput(f"{fn.source}: spec.node_name cannot be set for spark (the operator places the pods)")

    # the function's own annotations reach the driver and executors; the run's own win
    annotations = {**pod_.pod_annotations(fn), **ctx.run_annotations(fn)}
    version = str(fn.get("spark_version") or DEFAULT_SPARK_VERSION)
    job_type = str(fn.get("job_type") or "Python")
    spec: dict[str, Any] = {"type": job_type, "mode": "cluster"}
    if job_type == "Python":
        spec["pythonVersion"] = str(fn.get("python_version") or "3")
    spec["image"] = fn.image or default_image(version)
    if fn.get("image_pull_policy"):
        spec["imagePullPolicy"] = fn.get("image_pull_policy")
    if fn.get("image_pull_secret"):
        spec["imagePullSecrets"] = [str(fn.get("image_pull_secret"))]
    spec["mainApplicationFile"] = main_application_file(fn)
    if pod.container.get("args"):
        spec["arguments"] = list(pod.container["args"])
    if fn.get("main_class"):
        spec["mainClass"] = str(fn.get("main_class"))
    spec["sparkVersion"] = version
    spec["restartPolicy"] = restart_policy(fn, ctx.retry)
    deps = {k: list(v) for k, v in (thaw(fn.get("deps")) or {}).items() if v}
    if deps:
        spec["deps"] = deps
    spark_conf = {str(k): _conf_value(v) for k, v in (thaw(fn.get("spark_conf")) or {}).items()}
    if spark_conf.get("spark.eventLog.enabled") == "true":
        spark_conf.setdefault("spark.eventLog.dir", "/tmp")
    if spark_conf:
        spec["sparkConf"] = spark_conf
    hadoop_conf = {str(k): _conf_value(v) for k, v in (thaw(fn.get("hadoop_conf")) or {}).items()}
    if hadoop_conf:
        spec["hadoopConf"] = hadoop_conf
    if pod.spec.get("volumes"):
        spec["volumes"] = pod.spec["volumes"]
    spec["driver"] = _side(fn, config, pod, "driver", annotations)
    spec["executor"] = _side(fn, config, pod, "executor", annotations)
    spec["executor"]["instances"] = int(fn.get("replicas") or 1)
    dynamic = {k: v for k, v in (thaw(fn.get("dynamic_allocation")) or {}).items() if v is not None}
    if dynamic:
        spec["dynamicAllocation"] = dynamic
    monitoring = thaw(fn.get("monitoring")) or {}
    if monitoring.get("enabled"):
        spec["monitoring"] = {"exposeDriverMetrics": True, "exposeExecutorMetrics": True}
        if monitoring.get("exporter_jar"):
            spec["monitoring"]["prometheus"] = {"jmxExporterJar": str(monitoring["exporter_jar"])}
    return [*objects, run_object.build(fn, ctx, pod, *kinds.SPARK_APPLICATION.ref(), spec, NAME_LIMIT)]


def main_application_file(fn: FunctionSpec) -> str:
    if pod_.uses_bootstrap(fn):
        return f"local://{pod_.CODE_MOUNT}/bootstrap.py"
    entry = str(fn.get("command") or "")
    if not entry:
        raise InvalidInput(
            f"{fn.source}: a spark function needs code (spec.build.functionSourceCode) or "
            "spec.command naming the main application file"
        )
    if "://" in entry:
        return entry
    workdir = str(fn.get("workdir") or "")
    if not entry.startswith("/") and not workdir.startswith("/"):
        # MLRun submits local://etl.py, which names a host, not a file; the
        # file is taken from the Spark image's working directory instead
        workdir = SPARK_WORKDIR
    path = entry if entry.startswith("/") else f"{workdir.rstrip('/')}/{entry}"
    return f"local://{path}"


def restart_policy(fn: FunctionSpec, retry: retry_.Retry | None = None) -> dict[str, Any]:
    """The function's ``restart_policy`` over MLRun's defaults; a run's own retry wins.

    The operator restarts a failed application ``onFailureRetries`` times,
    waiting ``onFailureRetryInterval`` seconds (whole, at least 1) before
    each; a disrupted driver counts as a failure.
    """
    given = {k: v for k, v in (thaw(fn.get("restart_policy")) or {}).items() if v is not None}
    if retry is not None and retry.count is not None:
        given.update(type="OnFailure", retries=retry.retries, retry_interval=max(1, math.ceil(retry.backoff_seconds)))
    merged = {**DEFAULT_RESTART_POLICY, **given}
    return {_RESTART_FIELDS[k]: v for k, v in merged.items()}


def spark_memory(value: Any) -> str:
    """A memory amount in the JVM notation Spark reads (``512m``, ``2g``).

    A JVM size (``2g``, ``512m``, ``4G``: binary units in any case, as Spark
    reads them) keeps its number and unit; a Kubernetes quantity (``2Gi``,
    ``1500Mi``, ``2e9``) is converted, rounded up to whole mebibytes.
    """
    size = quantity.jvm_size(value)
    if size is not None:
        return f"{size[0]}{size[1]}"
    try:
        amount = quantity.parse_spark_memory(value)
    except quantity.QuantityError as exc:
        raise InvalidInput(f"memory {exc}") from None
    if amount <= 0:
        raise InvalidInput(f"memory '{value}' must be more than 0")
    if amount % _GIB == 0:
        return f"{int(amount // _GIB)}g"
    return f"{math.ceil(amount / Decimal(_MIB))}m"


def side_resources(fn: FunctionSpec, side: str) -> dict[str, dict[str, Any]]:
    """MLRun's defaults, key by key, under the side's own requests and limits."""
    given = thaw(fn.get(f"{side}_resources")) or {}
    out: dict[str, dict[str, Any]] = {}
    for section in ("requests", "limits"):
        values = {**DEFAULT_RESOURCES[side].get(section, {}), **(given.get(section) or {})}
        out[section] = {k: v for k, v in values.items() if v not in (None, "")}
    return out


def _side(fn: FunctionSpec, config: Config, pod: pod_.Pod, side: str, annotations: dict[str, str]) -> dict[str, Any]:
    resources = side_resources(fn, side)
    requests, limits = resources["requests"], resources["limits"]
    out: dict[str, Any] = {"cores": int(fn.get(f"{side}_cores") or _cores_of(requests.get("cpu")))}
    if requests.get("cpu") is not None:
        out["coreRequest"] = str(quantity.to_manifest(requests["cpu"]))
    if limits.get("cpu") is not None:
        out["coreLimit"] = str(quantity.to_manifest(limits["cpu"]))
    memory = requests.get("memory") or limits.get("memory")
    if memory:
        out["memory"] = spark_memory(memory)
    gpus = [(k, v) for k, v in limits.items() if quantity.is_gpu(k)]
    if gpus:
        name, amount = gpus[0]
        out["gpu"] = {"name": name, "quantity": int(quantity.parse(amount))}
    out["labels"] = dict(pod.labels)
    out["annotations"] = dict(annotations)
    if pod.container.get("env"):
        out["env"] = pod.container["env"]
    mounts = [*pod.container.get("volumeMounts", []), *(thaw(fn.get(f"{side}_volume_mounts")) or [])]
    if mounts:
        out["volumeMounts"] = mounts
    place = pod_.placement(_with_side_fallbacks(fn, side), config, f"{side}_")
    out.update(pod_.pod_placement_fields(place))
    if fn.get("service_account"):
        # the driver creates the executors: its account needs rights on pods
        out["serviceAccount"] = str(fn.get("service_account"))
    if fn.priority_class_name:
        out["priorityClassName"] = fn.priority_class_name
    if fn.get(f"{side}_java_options"):
        out["javaOptions"] = str(fn.get(f"{side}_java_options"))
    if pod.container.get("securityContext"):
        out["securityContext"] = pod.container["securityContext"]
    return out


def _cores_of(cpu: Any) -> int:
    """Spark's task slots when ``<side>_cores`` is not given: the CPU request, rounded up.

    (MLRun always says 1, so a 4-CPU executor ran one task at a time.)
    """
    if cpu is None or not quantity.is_valid(cpu):
        return 1
    return max(1, math.ceil(quantity.parse(cpu)))


def _with_side_fallbacks(fn: FunctionSpec, side: str) -> FunctionSpec:
    """``fn`` whose ``<side>_node_selector/tolerations/affinity`` default to the function's own."""
    spec = dict(fn.spec)
    for key in ("node_selector", "tolerations", "affinity"):
        if not spec.get(f"{side}_{key}") and spec.get(key):
            spec[f"{side}_{key}"] = spec[key]
    return dataclasses.replace(fn, spec=MappingProxyType(spec))


def _conf_value(value: Any) -> str:
    # Spark reads every setting as a string; YAML's true must reach it as "true"
    return str(value).lower() if isinstance(value, bool) else str(value)
