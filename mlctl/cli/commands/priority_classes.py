"""``mlctl priority-classes``: the valid priority class names and the default."""

from __future__ import annotations

from typing import Annotated

import typer

from mlctl.cli import options as opt
from mlctl.cli.main import app

Output = Annotated[str, opt.formats("text", "json", "yaml")]


@app.command("priority-classes")
def priority_classes(
    ctx: typer.Context, output: Output = "text", kubeconfig: opt.Kubeconfig = None, context: opt.Context = None
) -> int:
    """The valid priority class names and the default (list_valid_priority_class_names).

    Checked against the cluster's PriorityClasses when a cluster is configured;
    else answered from config alone, as MLRun does.
    """
    from mlctl.cli import invocation
    from mlctl.cli import output as out
    from mlctl.cluster import client
    from mlctl.pipeline import nodes

    current = invocation.of(ctx)
    cluster = None
    if kubeconfig is not None or context is not None or client.configured():
        cluster = current.connect(kubeconfig, context, None)
    else:
        current.out.say(
            "note: no cluster configured: the names come from config, not checked against a cluster", "yellow"
        )
    found = nodes.priority_classes(current.config(), cluster)
    if output != "text":
        out.emit(found.to_json(), output)
        return 0
    values = {name: "" if value is None else str(value) for name, value in found.values.items()}
    out.table(
        ["NAME", "VALUE", "DEFAULT"],
        [[n, values.get(n, ""), "*" if n == found.default else ""] for n in found.names],
    )
    return 0
