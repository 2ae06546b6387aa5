"""``mlctl delete``: remove what deploy created, from a spec or by function name."""

from __future__ import annotations

from typing import Annotated

import typer

from mlctl.cli import options as opt
from mlctl.cli.main import app


@app.command(help="Delete what deploy created, from a spec file or by function name.")
def delete(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="Spec file, hub:// reference, or a function name.", show_default=False)],
    engine: opt.Engine = None,
    kubeconfig: opt.Kubeconfig = None,
    context: opt.Context = None,
    namespace: opt.Namespace = None,
) -> int:
    from pathlib import Path

    from mlctl.cli import invocation
    from mlctl.pipeline import deploy

    current = invocation.of(ctx)
    cluster = current.connect(kubeconfig, context, namespace)
    if target.startswith("hub://") or Path(target).exists():
        outcome = deploy.delete(cluster, [current.load(target)], current.config(), engine or "")
    else:
        outcome = deploy.delete_by_name(cluster, target)
    for result in outcome.applied:
        current.out.say(f"{result.kind.lower()}/{result.name} {result.action}")
    return 0
