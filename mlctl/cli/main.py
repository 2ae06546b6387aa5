"""The ``mlctl`` command: the Typer app and the one error boundary.

Command modules register themselves on ``app``; each parses options, calls
one core function and hands the result to ``mlctl.cli.output``. ``run()``
is the only place that turns errors into messages and exit codes.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

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
    config: Annotated[
        str | None, typer.Option("--config", help="Config file (also MLCTL_CONFIG).", show_default=False)
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    state.options.config_file = config
    state.options.debug = debug or bool(os.environ.get("MLCTL_DEBUG"))


def _register() -> None:
    # importing a command module registers its commands on `app`
    from mlctl.cli import commands  # noqa: F401


def run(argv: list[str] | None = None) -> None:
    """Entry point: run the app, map every outcome to a documented exit code."""
    sys.exit(invoke(argv))


def _usage_error() -> type[Exception]:
    """The UsageError class of the click that typer runs on.

    typer 0.2x vendors click as ``typer._click``: its errors are not
    ``click``'s, and catching ``click.exceptions.UsageError`` would turn
    every usage error into an internal error (exit 70). Older typer runs on
    click itself. ``typer.Exit`` / ``typer.Abort`` are right in both.
    """
    try:
        from typer._click.exceptions import UsageError
    except ImportError:  # typer < 0.20
        from click.exceptions import UsageError  # type: ignore[assignment]
    return UsageError


def invoke(argv: list[str] | None = None) -> int:
    from mlctl.errors import ExitCode, MlctlError

    _register()
    state.reset()
    usage_error: Any = _usage_error()
    try:
        result = app(args=argv, standalone_mode=False, prog_name="mlctl")
    except usage_error as exc:
        exc.show()
        return ExitCode.USAGE
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
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
