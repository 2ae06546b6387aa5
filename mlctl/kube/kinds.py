"""Every Kubernetes kind mlctl renders, reads or writes, tabled once.

A ``Kind`` holds what a request needs (apiVersion, plural, whether it lives
in a namespace) and where its objects go in the apply order. The families
below (the kinds that are runs, the kinds deploy makes for a function, the
built-in API groups) are built from the table, so a new kind or a new API
version is added in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    api_version: str
    kind: str
    plural: str
    namespaced: bool = True
    # Rendered objects are sorted by ``order`` (what others refer to first; stable
    # otherwise); applied tier by tier (``tier``), the objects of one tier at once.
    order: int = 10
    tier: int = 2

    @property
    def group(self) -> str:
        """The API group ("" for the core group)."""
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    @property
    def crd_name(self) -> str:
        """The name of the CustomResourceDefinition that serves a custom kind."""
        return f"{self.plural}.{self.group}"

    def header(self) -> dict[str, str]:
        """The ``apiVersion`` and ``kind`` an object of this kind starts with."""
        return {"apiVersion": self.api_version, "kind": self.kind}

    def ref(self) -> tuple[str, str]:
        """(apiVersion, kind), as the cluster's calls take them."""
        return self.api_version, self.kind


NAMESPACE = Kind("v1", "Namespace", "namespaces", namespaced=False, order=0, tier=0)
NODE = Kind("v1", "Node", "nodes", namespaced=False)
POD = Kind("v1", "Pod", "pods")
CONFIG_MAP = Kind("v1", "ConfigMap", "configmaps", order=5, tier=1)
SECRET = Kind("v1", "Secret", "secrets", order=4, tier=1)
SERVICE = Kind("v1", "Service", "services", order=7, tier=1)
SERVICE_ACCOUNT = Kind("v1", "ServiceAccount", "serviceaccounts", order=1, tier=1)
PVC = Kind("v1", "PersistentVolumeClaim", "persistentvolumeclaims", order=6, tier=1)
RESOURCE_QUOTA = Kind("v1", "ResourceQuota", "resourcequotas")
EVENT = Kind("v1", "Event", "events")
JOB = Kind("batch/v1", "Job", "jobs")
DEPLOYMENT = Kind("apps/v1", "Deployment", "deployments")
REPLICA_SET = Kind("apps/v1", "ReplicaSet", "replicasets")
HPA = Kind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers")
ROLE = Kind("rbac.authorization.k8s.io/v1", "Role", "roles", order=2, tier=1)
ROLE_BINDING = Kind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", order=3, tier=1)
CLUSTER_ROLE = Kind("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", namespaced=False, tier=1)
CLUSTER_ROLE_BINDING = Kind(
    "rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False, tier=1
)
PRIORITY_CLASS = Kind("scheduling.k8s.io/v1", "PriorityClass", "priorityclasses", namespaced=False, tier=1)
LEASE = Kind("coordination.k8s.io/v1", "Lease", "leases")
CRD = Kind("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", namespaced=False, tier=0)
# custom kinds, served by their operators' CRDs
MPIJOB = Kind("kubeflow.org/v2beta1", "MPIJob", "mpijobs")
MPIJOB_V1 = Kind("kubeflow.org/v1", "MPIJob", "mpijobs")
DASK_CLUSTER = Kind("kubernetes.dask.org/v1", "DaskCluster", "daskclusters")
DASK_AUTOSCALER = Kind("kubernetes.dask.org/v1", "DaskAutoscaler", "daskautoscalers")
DASK_WORKER_GROUP = Kind("kubernetes.dask.org/v1", "DaskWorkerGroup", "daskworkergroups")
DASK_JOB = Kind("kubernetes.dask.org/v1", "DaskJob", "daskjobs")
SPARK_APPLICATION = Kind("sparkoperator.k8s.io/v1beta2", "SparkApplication", "sparkapplications")
NUCLIO_FUNCTION = Kind("nuclio.io/v1beta1", "NuclioFunction", "nucliofunctions")

ALL: tuple[Kind, ...] = (
    NAMESPACE,
    NODE,
    POD,
    CONFIG_MAP,
    SECRET,
    SERVICE,
    SERVICE_ACCOUNT,
    PVC,
    RESOURCE_QUOTA,
    EVENT,
    JOB,
    DEPLOYMENT,
    REPLICA_SET,
    HPA,
    ROLE,
    ROLE_BINDING,
    CLUSTER_ROLE,
    CLUSTER_ROLE_BINDING,
    PRIORITY_CLASS,
    LEASE,
    CRD,
    MPIJOB,
    MPIJOB_V1,
    DASK_CLUSTER,
    DASK_AUTOSCALER,
    DASK_WORKER_GROUP,
    DASK_JOB,
    SPARK_APPLICATION,
    NUCLIO_FUNCTION,
)
# by kind name: what a request needs does not depend on the API version
BY_NAME: dict[str, Kind] = {}
for _kind in ALL:
    BY_NAME.setdefault(_kind.kind, _kind)

MPIJOB_VERSIONS: dict[str, Kind] = {MPIJOB.version: MPIJOB, MPIJOB_V1.version: MPIJOB_V1}

# runtime -> the kinds whose objects are its runs, every API version mlctl renders
RUNS: dict[str, tuple[Kind, ...]] = {
    "job": (JOB,),
    "mpijob": tuple(MPIJOB_VERSIONS.values()),
    "spark": (SPARK_APPLICATION,),
}
# what deploy makes for a function, and so what deleting a function removes (runs are kept)
FUNCTION_OBJECTS: tuple[Kind, ...] = (
    CONFIG_MAP,
    SECRET,
    SERVICE,
    DEPLOYMENT,
    HPA,
    NUCLIO_FUNCTION,
    DASK_CLUSTER,
    DASK_AUTOSCALER,
)
# deployed objects whose readiness deploy waits for
BECOME_READY: tuple[Kind, ...] = (DEPLOYMENT, NUCLIO_FUNCTION, DASK_CLUSTER)
# API groups that no CRD serves (their kinds need no CRD check)
BUILT_IN_GROUPS: tuple[str, ...] = (
    "",
    "v1",
    "apps",
    "batch",
    "autoscaling",
    "rbac.authorization.k8s.io",
    "coordination.k8s.io",
    "scheduling.k8s.io",
    "policy",
)


def named(kind: str) -> Kind | None:
    """The kind of that name (``"Pod"``), or None when mlctl does not know it."""
    return BY_NAME.get(kind)


def run_kinds() -> tuple[Kind, ...]:
    """Every kind whose objects are runs, each API version once."""
    return tuple(kind for family in RUNS.values() for kind in family)


def run_kind_names() -> frozenset[str]:
    return frozenset(kind.kind for kind in run_kinds())


def render_order(kind: str) -> int:
    known = BY_NAME.get(kind)
    return known.order if known else 10


def apply_tier(kind: str) -> int:
    known = BY_NAME.get(kind)
    return known.tier if known else 2


def mpijob(version: str) -> Kind:
    """The MPIJob kind of a served API version (``v2beta1``, ``v1``); KeyError for another."""
    return MPIJOB_VERSIONS[version]
