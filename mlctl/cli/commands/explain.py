"""``mlctl runs explain RUN_ID``: why a run is stuck, and what to change."""

from __future__ import annotations

from typing import Annotated

import typer

from mlctl.cli.commands import cluster_opts as copt
from mlctl.cli.commands.runs import Output, RunId, runs_app


@runs_app.command("explain")
def explain(
    run_id: RunId,
    output: Output = "text",
    file: Annotated[
        str | None,
        typer.Option("--file", "-f", help="The run's spec file, named in the suggested commands.", show_default=False),
    ] = None,
    kubeconfig: copt.Kubeconfig = None,
    context: copt.Context = None,
    namespace: copt.Namespace = None,
) -> int:
    """Why a run is stuck or failed, per reason, and the mlctl command that would change it.

    RUN_ID may also name a deployed function (serving, Dask) to explain its pods.
    """
    from mlctl.cli import output as out
    from mlctl.cli import state
    from mlctl.errors import UsageError
    from mlctl.runs import explain as explain_
    from mlctl.runs.cluster import gather

    if output not in ("text", "json"):
        raise UsageError("--output must be text or json")
    cluster = copt.connect(kubeconfig, context, namespace)
    result = gather.run(cluster, run_id, cluster.namespace, state.config(), file or "")
    if output == "json":
        out.emit(result.to_json(), "json")
    else:
        print("\n".join(explain_.lines(result)))
    return 0
