"""``mlctl runs explain RUN_ID``: why a run is stuck, and what to change."""

from __future__ import annotations

from typing import Annotated

import typer

from mlctl.cli import options as opt
from mlctl.cli.commands.runs import Output, RunId, runs_app


@runs_app.command("explain")
def explain(
    ctx: typer.Context,
    run_id: RunId,
    output: Output = "text",
    file: Annotated[
        str | None,
        typer.Option("--file", "-f", help="The run's spec file, named in the suggested commands.", show_default=False),
    ] = None,
    kubeconfig: opt.Kubeconfig = None,
    context: opt.Context = None,
    namespace: opt.Namespace = None,
) -> int:
    """Why a run is stuck or failed, per reason, and the mlctl command that would change it.

    RUN_ID may also name a deployed function (serving, Dask) to explain its pods.
    """
    from mlctl.cli import invocation
    from mlctl.cli import output as out
    from mlctl.runs import explain as explain_
    from mlctl.runs.cluster import gather

    current = invocation.of(ctx)
    cluster = current.connect(kubeconfig, context, namespace)
    result = gather.run(cluster, run_id, cluster.namespace, current.config(), file or "")
    if output == "text":
        out.lines(explain_.lines(result))
    else:
        out.emit(result.to_json(), output)
    return 0
