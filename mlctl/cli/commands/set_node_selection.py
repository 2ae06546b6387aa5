"""``mlctl set-node-selection``: set node selector, node name, tolerations, affinity."""

from __future__ import annotations

from typing import Annotated

import typer

from mlctl.cli import editing
from mlctl.cli.main import app


@app.command("set-node-selection")
def set_node_selection(
    ctx: typer.Context,
    file: editing.File,
    node_selector: Annotated[
        list[str] | None,
        typer.Option("--node-selector", help="K=V; replaces the node selector; repeatable.", show_default=False),
    ] = None,
    node_name: Annotated[str | None, typer.Option("--node-name", help="Pin to one node.", show_default=False)] = None,
    toleration: Annotated[
        list[str] | None,
        typer.Option(
            "--toleration",
            help="key=value:Effect, key:Effect or JSON; replaces the tolerations; repeatable.",
            show_default=False,
        ),
    ] = None,
    affinity: Annotated[
        str | None, typer.Option("--affinity", help="Affinity as JSON; replaces it.", show_default=False)
    ] = None,
    dry_run: editing.DryRun = False,
) -> int:
    """Set node selector, node name, tolerations, affinity (fn.with_node_selection)."""
    import json

    from mlctl.errors import InvalidInput, UsageError
    from mlctl.spec import mutations
    from mlctl.spec import overrides as overrides_

    if node_selector is None and node_name is None and toleration is None and affinity is None:
        raise UsageError("give --node-selector, --node-name, --toleration or --affinity")
    selector = (
        {k: v or "" for k, v in overrides_.parse_pairs(node_selector, "--node-selector")}
        if node_selector is not None
        else None
    )
    tolerations = [mutations.parse_toleration(t) for t in toleration] if toleration is not None else None
    parsed_affinity = None
    if affinity is not None:
        try:
            parsed_affinity = json.loads(affinity)
        except ValueError as exc:
            raise InvalidInput(f"--affinity: not valid JSON ({exc})") from None
    return editing.apply(
        ctx,
        file,
        lambda tree: mutations.set_node_selection(tree, selector, node_name, tolerations, parsed_affinity),
        dry_run,
    )
