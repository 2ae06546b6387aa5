"""``mlctl diff``: how the live objects differ from the spec (exit 1 when they do)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from mlctl.cli import options as opt
from mlctl.cli.main import app

if TYPE_CHECKING:
    from mlctl.spec.overrides import Overrides


@app.command(help="Show how the live objects differ from the spec (exit 0: none, 1: differences).")
@opt.with_overrides
def diff(
    ctx: typer.Context,
    files: opt.Files,
    engine: opt.Engine = None,
    kubeconfig: opt.Kubeconfig = None,
    context: opt.Context = None,
    namespace: opt.Namespace = None,
    *,
    overrides: Overrides,  # the override flags, parsed (opt.with_overrides)
) -> int:
    from mlctl.cli import invocation
    from mlctl.cli import output as out
    from mlctl.errors import ExitCode
    from mlctl.pipeline import deploy
    from mlctl.pipeline import diff as diff_

    current = invocation.of(ctx)
    cluster = current.connect(kubeconfig, context, namespace)
    functions = [current.load(file, overrides) for file in files]
    plan = deploy.plan(functions, current.config(), cluster.namespace, engine or "")
    differences = diff_.diff(cluster, plan.objects)
    for difference in differences:
        out.lines(difference.unified())
    if not differences:
        current.out.say("no differences")
    return ExitCode.DIFFERENCES if differences else ExitCode.OK
