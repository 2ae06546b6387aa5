"""Options of the commands that talk to a cluster, and the connection they open."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
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
    from mlctl.runs import thresholds

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
