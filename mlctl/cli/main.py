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
    config: Annotated[
        str | None, typer.Option("--config", help="Config file (also MLCTL_CONFIG).", show_default=False)
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    validate: Annotated[
        str | None,
        typer.Option(
            "--validate",
            help="Unknown spec keys: strict (errors), warn (a likely typo is an error, others warnings; "
            "the default), ignore (silent). Also MLCTL_VALIDATION.",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    state.options.config_file = config
    state.options.debug = debug or bool(os.environ.get("MLCTL_DEBUG"))
    state.options.validation = validate


def _command_name(argv: list[str]) -> str:
    """The command word of ``argv``, past the global options."""
    words = iter(argv)
    for word in words:
        if word in ("--config", "--validate"):
            next(words, None)
        elif not word.startswith("-"):
            return word
    return ""


def _hoist_validate(argv: list[str]) -> list[str]:
    """``--validate LEVEL`` may follow the command word too (as in kubectl); it belongs to the app."""
    out: list[str] = []
    hoisted: list[str] = []
    words = iter(argv)
    for word in words:
        if word == "--":
            out += [word, *words]
            break
        if word == "--validate":
            hoisted += [word, next(words, "")]
        elif word.startswith("--validate="):
            hoisted.append(word)
        else:
            out.append(word)
    return [*hoisted, *out]


def _register(argv: list[str]) -> None:
    """Register the invoked command only; for help, list the table without importing it.

    Importing a command module registers its commands on ``app``. Listing
    uses stand-ins that carry the table's one-line help, so ``mlctl --help``
    imports none of them.
    """
    from mlctl.cli import commands

    # an earlier invocation in this process (tests) may have left stand-ins
    app.registered_commands = [c for c in app.registered_commands if c.callback is not _stand_in]
    name = _command_name(argv)
    if name in commands.TABLE:
        commands.load(name)
        return
    if argv and name:
        commands.load_all()  # an unknown command: let click list the real ones and suggest
        return
    for listed, (_, summary) in commands.TABLE.items():
        app.command(listed, help=summary, short_help=summary, add_help_option=False)(_stand_in)


def _stand_in() -> None:
    """Never runs: the real command is registered whenever its name is given."""


def run(argv: list[str] | None = None) -> None:
    """Entry point: run the app, map every outcome to a documented exit code."""
    sys.exit(invoke(argv))


def invoke(argv: list[str] | None = None) -> int:
    import click

    from mlctl.errors import ExitCode, MlctlError

    arguments = _hoist_validate(sys.argv[1:] if argv is None else list(argv))
    _register(arguments)
    state.reset()
    try:
        result = app(args=arguments, standalone_mode=False, prog_name="mlctl")
    except click.exceptions.UsageError as exc:
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
