"""``mlctl render FILE``: the manifests a deploy or run would apply, on stdout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mlctl.cli import options as opt
from mlctl.cli.main import app

if TYPE_CHECKING:
    from mlctl.spec.overrides import Overrides

Output = Annotated[str, opt.formats("yaml", "json", "name")]


@app.command(help=f"Print the Kubernetes manifests for a spec (secrets redacted).\n\nOverride precedence: {opt.PANEL}.")
@opt.with_overrides
def render(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="Spec file or hub:// reference.", show_default=False)],
    output: Output = "yaml",
    show_secrets: opt.ShowSecrets = False,
    namespace: opt.Namespace = None,
    run: Annotated[
        bool,
        typer.Option(
            "--run/--function", help="Render a run (Job, MPIJob, SparkApplication) or only the function's objects."
        ),
    ] = True,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="Run id to render with (default: a new one).", show_default=False)
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="K=V run parameter (value read as YAML); repeatable.", show_default=False),
    ] = None,
    engine: opt.Engine = None,
    *,
    overrides: Overrides,  # the override flags, parsed (opt.with_overrides)
) -> int:
    from mlctl import pipeline
    from mlctl import render as render_
    from mlctl.cli import invocation
    from mlctl.cli import output as out
    from mlctl.render.context import RenderContext
    from mlctl.runs import ids

    current = invocation.of(ctx)
    loaded = current.load(file, overrides)
    render_ctx = RenderContext(
        namespace=namespace or pipeline.default_namespace(),
        run_id=(run_id or ids.new_run_id()) if run else "",
        params=ids.parse_params(param or []),
        engine=engine or "",
    )
    objects = pipeline.render(loaded, current.config(), render_ctx)
    out.emit_documents(objects if show_secrets else render_.redact(objects), output)
    return 0
