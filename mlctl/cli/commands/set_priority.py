"""``mlctl set-priority``: set the pod priority class."""

from __future__ import annotations

from typing import Annotated

import typer

from mlctl.cli import editing
from mlctl.cli.main import app


@app.command("set-priority")
def set_priority(
    ctx: typer.Context,
    file: editing.File,
    name: Annotated[str, typer.Argument(help="Priority class name.", show_default=False)],
    dry_run: editing.DryRun = False,
) -> int:
    """Set the pod priority class (fn.with_priority_class)."""
    from mlctl.spec import mutations

    return editing.apply(ctx, file, lambda tree: mutations.set_priority(tree, name), dry_run)
