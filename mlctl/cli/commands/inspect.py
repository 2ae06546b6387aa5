"""``mlctl priority-classes`` and ``mlctl nodes``: what the cluster offers."""

from __future__ import annotations

from typing import Annotated

import typer

from mlctl.cli import options
from mlctl.cli.commands import cluster_opts as copt
from mlctl.cli.main import app

Output = Annotated[str, typer.Option("--output", "-o", help="text | json.")]


@app.command("priority-classes")
def priority_classes(output: Output = "text", kubeconfig: copt.Kubeconfig = None, context: copt.Context = None) -> int:
    """The valid priority class names and the default (list_valid_priority_class_names).

    Checked against the cluster's PriorityClasses when a cluster is configured;
    else answered from config alone, as MLRun does.
    """
    from mlctl.cli import output as out
    from mlctl.cli import state
    from mlctl.cluster import client

    options.check_output(output, ("text", "json"))
    if kubeconfig is None and context is None and not client.configured():
        config = state.config()
        names, default = config.valid_priority_classes, config.default_priority_class
        out.say("note: no cluster configured: the names come from config, not checked against a cluster", "yellow")
        if output == "json":
            out.emit({"valid": names, "default": default, "values": {}, "cluster_checked": False}, "json")
            return 0
        out.table(["NAME", "VALUE", "DEFAULT"], [[n, "", "*" if n == default else ""] for n in names])
        return 0
    cluster = copt.connect(kubeconfig, context, None)
    config = state.config()
    live = {p["metadata"]["name"]: p for p in cluster.list("scheduling.k8s.io/v1", "PriorityClass")}
    configured = config.valid_priority_classes
    names = [n for n in configured if n in live] if configured else sorted(live)
    default = config.default_priority_class
    if output == "json":
        values = {n: live[n].get("value") for n in names}
        out.emit({"valid": names, "default": default, "values": values, "cluster_checked": True}, "json")
        return 0
    out.table(
        ["NAME", "VALUE", "DEFAULT"], [[n, str(live[n].get("value", "")), "*" if n == default else ""] for n in names]
    )
    return 0


@app.command()
def nodes(output: Output = "text", kubeconfig: copt.Kubeconfig = None, context: copt.Context = None) -> int:
    """Nodes, and which of them the preemptible-node profile marks as spot."""
    from mlctl.cli import output as out
    from mlctl.cli import state

    cluster = copt.connect(kubeconfig, context, None)
    config = state.config()
    profile = config.preemptible_node_selector
    tolerated = config.preemptible_tolerations
    rows = []
    for node in cluster.list("v1", "Node"):
        labels = node["metadata"].get("labels", {})
        taints = node.get("spec", {}).get("taints", []) or []
        spot = bool(profile) and all(labels.get(k) == v for k, v in profile.items())
        spot = spot or any(t.get("key") == tol.get("key") for t in taints for tol in tolerated)
        capacity = node.get("status", {}).get("allocatable", {})
        gpus = sum(int(v) for k, v in capacity.items() if "gpu" in k and str(v).isdigit())
        rows.append(
            {
                "name": node["metadata"]["name"],
                "spot": spot,
                "cpu": capacity.get("cpu", ""),
                "memory": capacity.get("memory", ""),
                "gpus": gpus,
                "taints": [f"{t.get('key')}={t.get('value', '')}:{t.get('effect')}" for t in taints],
            }
        )
    if output == "json":
        out.emit({"profile": {"node_selector": profile, "tolerations": tolerated}, "nodes": rows}, "json")
        return 0
    if not profile and not tolerated:
        out.say("no preemptible-node profile configured (preemptible_nodes.node_selector / tolerations)")
    out.table(
        ["NAME", "SPOT", "CPU", "MEMORY", "GPUS", "TAINTS"],
        [
            [
                r["name"],
                "yes" if r["spot"] else "no",
                str(r["cpu"]),
                str(r["memory"]),
                str(r["gpus"]),
                ",".join(r["taints"]),
            ]
            for r in rows
        ],
    )
    return 0
