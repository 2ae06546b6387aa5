"""``mlctl nodes``: the cluster's nodes, and which ones the preemptible-node profile marks as spot."""

from __future__ import annotations

from typing import Annotated

import typer

from mlctl.cli import options as opt
from mlctl.cli.main import app

Output = Annotated[str, opt.formats("text", "json", "yaml")]


@app.command()
def nodes(
    ctx: typer.Context, output: Output = "text", kubeconfig: opt.Kubeconfig = None, context: opt.Context = None
) -> int:
    """Nodes, and which of them the preemptible-node profile marks as spot."""
    from mlctl.cli import invocation
    from mlctl.cli import output as out
    from mlctl.pipeline import nodes as nodes_

    current = invocation.of(ctx)
    cluster = current.connect(kubeconfig, context, None)
    listing = nodes_.nodes(cluster, current.config())
    if output != "text":
        out.emit(listing.to_json(), output)
        return 0
    if not listing.profiled:
        current.out.say("no preemptible-node profile configured (preemptible_nodes.node_selector / tolerations)")
    out.table(
        ["NAME", "SPOT", "CPU", "MEMORY", "GPUS", "TAINTS"],
        [[n.name, "yes" if n.spot else "no", n.cpu, n.memory, str(n.gpus), ",".join(n.taints)] for n in listing.nodes],
    )
    return 0
