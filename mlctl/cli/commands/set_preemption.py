"""``mlctl set-preemption``: choose spot or on-demand nodes (preemption mode)."""

from __future__ import annotations

from typing import Annotated

import typer

from mlctl.cli import editing
from mlctl.cli.main import app


@app.command("set-preemption")
def set_preemption(
    ctx: typer.Context,
    file: editing.File,
    mode: Annotated[str, typer.Argument(help="allow | constrain | prevent | none.", show_default=False)],
    dry_run: editing.DryRun = False,
) -> int:
    """Choose spot vs on-demand nodes (fn.with_preemption_mode)."""
    from mlctl.spec import mutations

    return editing.apply(ctx, file, lambda tree: mutations.set_preemption(tree, mode), dry_run)
