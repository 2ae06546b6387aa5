"""Kind ``mpijob``: one run is one Kubeflow ``MPIJob`` (a launcher and N workers).

Two API versions, chosen by config ``mpijob_crd_version``:

- ``v2beta1`` (default; what the current MPI operator serves): the operator
  runs ``sshd`` on each worker (it starts ``/usr/sbin/sshd -De`` itself when
  the worker container gives no command), hands the launcher a hostfile and
  SSH keys, and the launcher's ``mpirun`` starts the ranks over SSH. So the
  image needs OpenMPI and sshd, and a rank sees only the variables ``mpirun``
  exports: every variable of the function is exported with ``-x``.
- ``v1`` (the old operator MLRun targets): ``spec.cleanPodPolicy`` at the top.

The launcher runs ``mpirun <mpi_args> -x ... python /opt/mlctl/bootstrap.py``
(the run's handler, as a job would); workers get the function's resources,
the launcher only the configured default pod resources, as in MLRun. Both
pod templates carry the pod settings (env, volumes, placement after the
preemption mode, priority class), the ``IPC_LOCK`` capability, the run's
labels, the function's annotations and the run's. The launcher is created
only once every worker is ready and never restarts in place.

Retries (v2beta1): ``runPolicy.backoffLimit`` is the run's retry count; the
operator hands it to the launcher's Job, whose controller makes a new
launcher pod after a failure (with its own back-off: 10 s, doubling). That
Job has no pod failure policy, so a disrupted launcher spends the count
like a failure, and the run's backoff is not applied. The old v1 API gets no
retries. Pure: no kubernetes import.
"""

from __future__ import annotations

import copy
from typing import Any

from mlctl.config import Config
from mlctl.errors import InvalidInput
from mlctl.kube import kinds
from mlctl.render import pod as pod_
from mlctl.render import run_object
from mlctl.render.context import RenderContext
from mlctl.spec import quantity
from mlctl.spec.model import FunctionSpec

VERSIONS = tuple(kinds.MPIJOB_VERSIONS)
DEFAULT_MPI_ARGS = ("-x", "NCCL_SOCKET_NTHREADS=2", "-x", "NCCL_NSOCKS_PERTHREAD=8", "-x", "NCCL_MIN_NCHANNELS=4")
# The operator names pods <job>-launcher and <job>-worker-<i>; both must stay DNS labels.
NAME_LIMIT = 50


def render(fn: FunctionSpec, config: Config, ctx: RenderContext) -> list[dict[str, Any]]:
    version = str(config.get("mpijob_crd_version") or "v2beta1")
    if version not in VERSIONS:
        raise InvalidInput(f"config mpijob_crd_version: '{version}' is not one of {', '.join(VERSIONS)}")
    objects, pod = run_object.function_objects(fn, config, ctx)
    if not ctx.for_run:
        return objects

    # the function's own annotations reach every pod, as on a Job's; the run's own win
    annotations = {**pod_.pod_annotations(fn), **ctx.run_annotations(fn)}
    launcher = _launcher_container(fn, config, pod)
    worker = _with_ipc_lock(pod.container)
    worker.pop("command", None)
    worker.pop("args", None)
    launcher_template = _template(pod, launcher, annotations)
    worker_template = _template(pod, worker, annotations)
    workers = int(fn.get("replicas") or 1)
    slots = int(ctx.params.get("slots_per_worker") or 1)  # a run parameter, as in MLRun
    policy = str(fn.get("clean_pod_policy") or "All")
    if version == "v2beta1":
        spec: dict[str, Any] = {
            "slotsPerWorker": slots,
            "runPolicy": {"cleanPodPolicy": policy, "backoffLimit": ctx.retry.retries},
            "mpiImplementation": "OpenMPI",
            # the launcher's ssh must find every worker's sshd listening
            "launcherCreationPolicy": "WaitForWorkersReady",
            "mpiReplicaSpecs": {
                "Launcher": {"replicas": 1, "restartPolicy": "Never", "template": launcher_template},
                "Worker": {"replicas": workers, "restartPolicy": "Never", "template": worker_template},
            },
        }
    else:
        if ctx.retry.retries:
            raise InvalidInput(
                f"{fn.source}: retries of an mpijob need the MPIJob v2beta1 API (config mpijob_crd_version: v2beta1)"
            )
        spec = {
            "slotsPerWorker": slots,
            "cleanPodPolicy": policy,
            "mpiReplicaSpecs": {
                "Launcher": {"replicas": 1, "restartPolicy": "Never", "template": launcher_template},
                "Worker": {"replicas": workers, "template": worker_template},
            },
        }
    return [*objects, run_object.build(fn, ctx, pod, *kinds.mpijob(version).ref(), spec, NAME_LIMIT)]


def mpirun_command(fn: FunctionSpec, container: dict[str, Any]) -> list[str]:
    """``mpirun <mpi_args> -x VAR... <the function's command and args>``."""
    program = [*container.get("command", []), *container.get("args", [])]
    if not container.get("command"):
        raise InvalidInput(
            f"{fn.source}: an mpijob needs code (spec.build.functionSourceCode) or spec.command to run under mpirun"
        )
    mpi_args = fn.get("mpi_args")
    args = [str(a) for a in (DEFAULT_MPI_ARGS if mpi_args is None else mpi_args)]
    exports: list[str] = []
    # Ranks started over SSH do not inherit the container's environment;
    # PATH so the program is found, then every variable the function sets.
    for name in ("PATH", *(e["name"] for e in container.get("env", []))):
        if name not in exports:
            exports.append(name)
    return ["mpirun", *args, *(part for name in exports for part in ("-x", name)), *program]


def _launcher_container(fn: FunctionSpec, config: Config, pod: pod_.Pod) -> dict[str, Any]:
    launcher = _with_ipc_lock(pod.container)
    launcher["command"] = mpirun_command(fn, pod.container)
    launcher.pop("args", None)
    # the launcher only starts ranks; it gets the default pod resources, not the workers'
    launcher.pop("resources", None)
    defaults = config.get("default_function_pod_resources") or {}
    resources = {}
    for section in ("requests", "limits"):
        values = {
            str(k): quantity.to_manifest(v) for k, v in (defaults.get(section) or {}).items() if v not in (None, "")
        }
        if values:
            resources[section] = values
    if resources:
        launcher["resources"] = resources
    return launcher


def _with_ipc_lock(container: dict[str, Any]) -> dict[str, Any]:
    """A copy with the IPC_LOCK capability (pinned memory for RDMA/NCCL), as MLRun adds."""
    out = copy.deepcopy(container)
    context = out.setdefault("securityContext", {})
    capabilities = context.setdefault("capabilities", {})
    added = capabilities.setdefault("add", [])
    if "IPC_LOCK" not in added:
        added.append("IPC_LOCK")
    return out


def _template(pod: pod_.Pod, container: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"labels": dict(pod.labels), "annotations": dict(annotations)},
        "spec": pod_.with_container(pod, container),
    }
