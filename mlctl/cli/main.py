"""The ``mlctl`` command: the Typer app and the one error boundary.

Command modules register themselves on ``app``; each parses options, calls
one core function and hands the result to ``mlctl.cli.output``. ``run()``
is the only place that turns errors into messages and exit codes.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from mlctl.cli import state

app = typer.Typer(
    name="mlctl",
    help="Turn MLRun function specs (YAML) into Kubernetes workloads: validate, render, deploy, run, watch.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,  # env files and overrides can hold secrets
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from mlctl import __version__

        print(f"mlctl {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    config: Annotated[str | None, typer.Option("--config", help="Config file (also MLCTL_CONFIG).", show_default=False)] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    state.options.config_file = config
    state.options.debug = debug or bool(os.environ.get("MLCTL_DEBUG"))


def _register() -> None:
    # importing a command module registers its commands on `app`
    from mlctl.cli import commands  # noqa: F401


def run(argv: list[str] | None = None) -> None:
    """Entry point: run the app, map every outcome to a documented exit code."""
    sys.exit(invoke(argv))


def invoke(argv: list[str] | None = None) -> int:
    import click

    from mlctl.errors import ExitCode, MlctlError

    _register()
    state.reset()
    try:
        result = app(args=argv, standalone_mode=False, prog_name="mlctl")
    except click.exceptions.UsageError as exc:
        exc.show()
        return ExitCode.USAGE
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort):
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except MlctlError as exc:
        from mlctl.cli import output

        output.error(exc, debug=state.options.debug)
        return exc.exit_code
    except BrokenPipeError:
        return ExitCode.OK
    except Exception as exc:  # the boundary: anything else is a bug in mlctl
        from mlctl.cli import output

        output.internal_error(exc, debug=state.options.debug)
        return ExitCode.INTERNAL
    return int(result) if isinstance(result, int) else ExitCode.OK
