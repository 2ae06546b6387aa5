"""Options of the commands that talk to a cluster, and the connection they open."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from mlctl.cluster.apply import Preflight
    from mlctl.cluster.client import Cluster

PANEL = "Cluster"
Kubeconfig = Annotated[
    str | None,
    typer.Option(
        "--kubeconfig",
        help="Kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster).",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
Context = Annotated[
    str | None, typer.Option("--context", help="Kubeconfig context.", rich_help_panel=PANEL, show_default=False)
]
Namespace = Annotated[
    str | None,
    typer.Option(
        "--namespace",
        "-n",
        help="Namespace (default: the context's, else 'default').",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
Timeout = Annotated[
    str,
    typer.Option("--timeout", help="How long to wait, e.g. 30s, 5m (also bounds API retries).", rich_help_panel=PANEL),
]


def seconds(text: str, flag: str = "--timeout") -> float:
    from mlctl.errors import InvalidInput
    from mlctl.spec import durations as thresholds

    try:
        value = thresholds.parse_seconds(text)
    except thresholds.TimeStringError as exc:
        raise InvalidInput(f"{flag}: {exc}") from None
    return float("inf") if value < 0 else value


def connect(kubeconfig: str | None, context: str | None, namespace: str | None, timeout: float = 30.0) -> Cluster:
    """Connect, and add the cluster's admin-set config layer to this invocation's config."""
    from mlctl.cli import state
    from mlctl.cluster import client, settings

    cluster = client.connect(kubeconfig, context, namespace, timeout=min(timeout, 60.0))
    reference = str(state.config().get("cluster_config_map") or "")
    state.use_cluster_settings(settings.read(cluster, reference))
    return cluster


def preflight(
    cluster: Cluster, objects: Sequence[Mapping[str, Any]], runs: Sequence[Mapping[str, Any]], label: str
) -> Preflight:
    """The preflight behind a spinner; its warnings said, its problems listed and raised (nothing is written)."""
    from mlctl.cli import output as out
    from mlctl.cluster import apply
    from mlctl.errors import PreflightFailed

    with out.spinner(label):
        check = apply.preflight(cluster, objects, runs)
    for warning in check.warnings:
        out.say(f"warning: {warning}", "yellow")
    if check.problems:
        for problem in check.problems:
            out.say(f"  {problem}", "red")
        raise PreflightFailed(f"preflight failed: {len(check.problems)} problem(s); nothing was written")
    return check
