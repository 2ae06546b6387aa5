"""``mlctl set-thresholds``: set the state thresholds that abort stuck runs."""

from __future__ import annotations

from typing import Annotated

import typer

from mlctl.cli import editing
from mlctl.cli.main import app


@app.command("set-thresholds")
def set_thresholds(
    ctx: typer.Context,
    file: editing.File,
    values: Annotated[
        list[str], typer.Argument(help="STATE=TIME, e.g. pending_not_scheduled='1 min' running=2h.", show_default=False)
    ],
    replace: Annotated[bool, typer.Option("--replace", help="Drop thresholds not given here.")] = False,
    dry_run: editing.DryRun = False,
) -> int:
    """Set state thresholds that abort stuck runs (fn.set_state_thresholds).

    States: pending_scheduled, pending_not_scheduled, image_pull_backoff,
    running (alias executing). TIME: '30s', '1h 30m', '1 minute and 30s', -1.
    """
    from mlctl.spec import mutations
    from mlctl.spec import overrides as overrides_

    pairs = {k: v or "" for k, v in overrides_.parse_pairs(values, "STATE=TIME")}
    return editing.apply(ctx, file, lambda tree: mutations.set_thresholds(tree, pairs, replace), dry_run)
