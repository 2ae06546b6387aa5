"""What a cluster offers for scheduling: its nodes (which are spot, how many GPUs) and priority classes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlctl.cluster.client import Cluster
    from mlctl.config import Config


@dataclass(frozen=True)
class Node:
    name: str
    spot: bool
    cpu: str
    memory: str
    gpus: int
    taints: list[str]


@dataclass(frozen=True)
class Listing:
    """The nodes, and the preemptible-node profile that decided which of them are spot."""

    node_selector: Mapping[str, str]
    tolerations: Sequence[Mapping[str, Any]]
    nodes: list[Node]

    @property
    def profiled(self) -> bool:
        return bool(self.node_selector) or bool(self.tolerations)

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": {"node_selector": dict(self.node_selector), "tolerations": list(self.tolerations)},
            "nodes": [node.__dict__ for node in self.nodes],
        }


def is_spot(node: Mapping[str, Any], selector: Mapping[str, str], tolerations: Sequence[Mapping[str, Any]]) -> bool:
    """Spot: the node carries every label of the profile's selector, or a taint the profile tolerates."""
    labels = node["metadata"].get("labels") or {}
    taints = node.get("spec", {}).get("taints") or []
    if selector and all(labels.get(k) == v for k, v in selector.items()):
        return True
    return any(t.get("key") == tol.get("key") for t in taints for tol in tolerations)


def gpus(allocatable: Mapping[str, Any]) -> int:
    """GPUs a node can give pods: every extended resource whose name says gpu (nvidia.com/gpu, amd.com/gpu)."""
    return sum(int(v) for k, v in allocatable.items() if "gpu" in k and str(v).isdigit())


def describe(node: Mapping[str, Any], selector: Mapping[str, str], tolerations: Sequence[Mapping[str, Any]]) -> Node:
    allocatable = node.get("status", {}).get("allocatable") or {}
    taints = node.get("spec", {}).get("taints") or []
    return Node(
        name=node["metadata"]["name"],
        spot=is_spot(node, selector, tolerations),
        cpu=str(allocatable.get("cpu", "")),
        memory=str(allocatable.get("memory", "")),
        gpus=gpus(allocatable),
        taints=[f"{t.get('key')}={t.get('value', '')}:{t.get('effect')}" for t in taints],
    )


def nodes(cluster: Cluster, config: Config) -> Listing:
    selector = config.preemptible_node_selector
    tolerations = config.preemptible_tolerations
    found = [describe(node, selector, tolerations) for node in cluster.list("v1", "Node")]
    return Listing(selector, tolerations, found)


@dataclass(frozen=True)
class PriorityClasses:
    """The valid priority class names, the default, and (when a cluster was asked) each one's value."""

    names: list[str]
    default: str
    values: dict[str, Any] = field(default_factory=dict)
    cluster_checked: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": self.names,
            "default": self.default,
            "values": self.values,
            "cluster_checked": self.cluster_checked,
        }


def priority_classes(config: Config, cluster: Cluster | None = None) -> PriorityClasses:
    """From config alone without a cluster (as MLRun does); else only the configured names the cluster has."""
    configured = config.valid_priority_classes
    default = config.default_priority_class
    if cluster is None:
        return PriorityClasses(list(configured), default)
    live = {p["metadata"]["name"]: p for p in cluster.list("scheduling.k8s.io/v1", "PriorityClass")}
    names = [n for n in configured if n in live] if configured else sorted(live)
    return PriorityClasses(names, default, {n: live[n].get("value") for n in names}, cluster_checked=True)
