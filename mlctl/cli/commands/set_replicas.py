"""``mlctl set-replicas``: set a fixed replica count or an autoscaling range."""

from __future__ import annotations

from typing import Annotated

import typer

from mlctl.cli import editing
from mlctl.cli.main import app


@app.command("set-replicas")
def set_replicas(
    ctx: typer.Context,
    file: editing.File,
    replicas: Annotated[int | None, typer.Argument(help="A fixed number of replicas.", show_default=False)] = None,
    low: Annotated[int | None, typer.Option("--min", help="Autoscaling minimum.", show_default=False)] = None,
    high: Annotated[int | None, typer.Option("--max", help="Autoscaling maximum.", show_default=False)] = None,
    dry_run: editing.DryRun = False,
) -> int:
    """Set a fixed replica count, or a --min/--max range (dask, nuclio, serving)."""
    from mlctl.errors import UsageError
    from mlctl.spec import mutations

    if replicas is None and low is None and high is None:
        raise UsageError("give N, or --min and/or --max")
    if replicas is not None and (low is not None or high is not None):
        raise UsageError("give either N or --min/--max, not both")
    kind = editing.kind(file)
    return editing.apply(ctx, file, lambda tree: mutations.set_replicas(tree, kind, replicas, low, high), dry_run)
