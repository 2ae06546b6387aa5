"""``mlctl config show``: the effective config and where each value came from."""

from __future__ import annotations

from typing import Annotated

import typer

from mlctl.cli.main import app

config_app = typer.Typer(help="Inspect mlctl's configuration (MLRun's keys; MLCTL_* / MLRUN_* variables, config files).",
                         no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def show(output: Annotated[str, typer.Option("--output", "-o", help="table | yaml | json.")] = "table") -> int:
    """Print every config key, its value and its origin."""
    from mlctl.cli import output as out
    from mlctl.cli import state

    config = state.config()
    rows = _flatten(dict(config.values))
    if output in ("yaml", "json"):
        out.emit({"values": dict(config.values),
                  "origins": {k: config.origins.get(k, "default") for k in rows}}, output)
        return 0
    width = max(len(k) for k in rows)
    import json
    import sys

    for key, value in rows.items():
        text = (value if isinstance(value, str) else json.dumps(value)) or '""'
        sys.stdout.write(f"{key:<{width}}  {text}  ({config.origins.get(key, 'default')})\n")
    return 0


def _flatten(data: dict[str, object], prefix: str = "") -> dict[str, object]:
    rows: dict[str, object] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value and key != "projects":
            rows.update(_flatten(value, f"{prefix}{key}."))
        else:
            rows[f"{prefix}{key}"] = value
    return rows
