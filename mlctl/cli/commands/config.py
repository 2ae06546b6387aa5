"""``mlctl config show``: the effective config and where each value came from."""

from __future__ import annotations

from typing import Annotated

import typer

from mlctl.cli import options as opt
from mlctl.cli.main import app

config_app = typer.Typer(
    help="Inspect mlctl's configuration (MLRun's keys; MLCTL_* / MLRUN_* variables, config files).",
    no_args_is_help=True,
)
app.add_typer(config_app, name="config")


@config_app.command("show")
def show(
    ctx: typer.Context,
    output: Annotated[str, opt.formats("table", "yaml", "json")] = "table",
    show_secrets: Annotated[
        bool, typer.Option("--show-secrets", help="Print access keys instead of redacting them.")
    ] = False,
    from_cluster: Annotated[
        bool, typer.Option("--from-cluster", help="Include the layer an admin keeps in the cluster's ConfigMap.")
    ] = False,
    kubeconfig: opt.Kubeconfig = None,
    context: opt.Context = None,
) -> int:
    """Print every config key, its value and its origin."""
    import copy

    from mlctl.cli import invocation
    from mlctl.cli import output as out

    current = invocation.of(ctx)
    if from_cluster:
        current.connect(kubeconfig, context, None)  # adds the cluster's layer to this invocation's config
    config = current.config()
    values = copy.deepcopy(dict(config.values))
    if not show_secrets:
        _redact(values, config.auto_mount_params)
    rows = _flatten(values)
    if output in ("yaml", "json"):
        out.emit({"values": values, "origins": {k: config.origin(k) for k in rows}}, output)
        return 0
    width = max(len(k) for k in rows)
    import json
    import sys

    for key, value in rows.items():
        text = (value if isinstance(value, str) else json.dumps(value)) or '""'
        sys.stdout.write(f"{key:<{width}}  {text}  ({config.origin(key)})\n")
    return 0


def _redact(values: dict[str, object], params: dict[str, str]) -> None:
    """Hide secret-looking auto-mount parameters (a v3io access key, say)."""
    from mlctl import render

    storage = values.get("storage")
    if not isinstance(storage, dict) or not any(render.is_secret_name(k) for k in params):
        return
    storage["auto_mount_params"] = ",".join(
        f"{k}={render.REDACTED if render.is_secret_name(k) else v}" for k, v in params.items()
    )


def _flatten(data: dict[str, object], prefix: str = "") -> dict[str, object]:
    rows: dict[str, object] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value and key != "projects":
            rows.update(_flatten(value, f"{prefix}{key}."))
        else:
            rows[f"{prefix}{key}"] = value
    return rows
