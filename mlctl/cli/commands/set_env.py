"""``mlctl set-env``: set environment variables in a spec."""

from __future__ import annotations

from typing import Annotated

import typer

from mlctl.cli import editing
from mlctl.cli.main import app


@app.command("set-env")
def set_env(
    ctx: typer.Context,
    file: editing.File,
    values: Annotated[
        list[str] | None,
        typer.Argument(help="K=V pairs (a bare K takes your environment's value).", show_default=False),
    ] = None,
    env_file: Annotated[
        list[str] | None,
        typer.Option("--file", help="Env file (python-dotenv format); repeatable.", show_default=False),
    ] = None,
    from_secret: Annotated[
        list[str] | None,
        typer.Option(
            "--from-secret", help="NAME=SECRET[:KEY]: take NAME from a Kubernetes Secret.", show_default=False
        ),
    ] = None,
    dry_run: editing.DryRun = False,
) -> int:
    """Set environment variables (fn.set_env / set_envs / set_env_from_secret)."""
    import os

    from mlctl.errors import UsageError
    from mlctl.spec import envfile, mutations
    from mlctl.spec import overrides as overrides_

    if not values and not env_file and not from_secret:
        raise UsageError("give K=V pairs, --file ENVFILE or --from-secret NAME=SECRET[:KEY]")
    pairs: list[tuple[str, str]] = []
    for path in env_file or []:
        pairs += list(envfile.read(path).items())
    pairs += list(overrides_.parse_env(values or [], os.environ, "set-env"))
    secrets = mutations.parse_secret_refs(from_secret or [])
    return editing.apply(ctx, file, lambda tree: mutations.set_env(tree, pairs, secrets), dry_run)
