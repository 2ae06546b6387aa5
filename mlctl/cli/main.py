"""The ``mlctl`` command: the Typer app and the one error boundary.

Command modules register themselves on ``app``; each parses options, calls
the core (``mlctl.pipeline``) and hands the result to ``mlctl.cli.output``.
``invoke()`` makes the invocation's context (``mlctl.cli.invocation``) and
is the only place that turns errors into messages and exit codes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from mlctl.cli import invocation

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
        from mlctl.cli import output

        output.lines([f"mlctl {__version__}"])
        raise typer.Exit(0)


@app.callback()
def main(
    ctx: typer.Context,
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
    current = invocation.of(ctx)
    current.config_file = config
    current.debug = debug or bool(os.environ.get("MLCTL_DEBUG"))
    current.validation = validate


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
    current = invocation.Invocation(debug=bool(os.environ.get("MLCTL_DEBUG")))
    try:
        with _interrupts():
            result = app(args=arguments, standalone_mode=False, prog_name="mlctl", obj=current)
    except click.exceptions.UsageError as exc:
        exc.show()
        return ExitCode.USAGE
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort) as exc:
        return _interrupted(current, getattr(exc, "signum", signal.SIGINT))
    except MlctlError as exc:
        current.out.error(exc, debug=current.debug)
        return exc.exit_code
    except BrokenPipeError:
        return _reader_gone()
    except SystemExit as exc:
        # click ends a command whose reader went away (`mlctl render f.yaml | true`) with exit 1
        if isinstance(exc.__context__, OSError) and exc.__context__.errno == errno.EPIPE:
            return _reader_gone()
        raise
    except Exception as exc:  # the boundary: anything else is a bug in mlctl
        current.out.internal_error(exc, debug=current.debug)
        return ExitCode.INTERNAL
    if _received:  # click turned the interrupt into a bare exit code
        return _interrupted(current, _received[-1])
    return int(result) if isinstance(result, int) else ExitCode.OK


_received: list[int] = []  # signals that arrived during this invocation


@contextlib.contextmanager
def _interrupts() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP unwind the command instead of killing mlctl where it stands.

    Each raises ``Signalled`` (a KeyboardInterrupt), so whatever cleans up on
    Ctrl-C (a local run stopping its processes and recording how it ended)
    also runs on SIGTERM and SIGHUP, which would otherwise end mlctl where it
    stands. Click turns a KeyboardInterrupt into a bare exit 130, so the
    signal is also noted here, for the message and the exit code.
    """
    from mlctl.errors import Signalled

    _received.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def unwind(signum: int, _frame: Any) -> None:
        _received.append(signum)
        raise Signalled(signum)

    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    for sig in _SIGNALS:
        if previous[sig] in (signal.SIG_DFL, signal.default_int_handler):
            signal.signal(sig, unwind)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def _interrupted(current: invocation.Invocation, signum: int) -> int:
    from mlctl.errors import ExitCode

    name = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    with contextlib.suppress(OSError):
        current.out.say(name)
    return ExitCode.INTERRUPTED if signum == signal.SIGINT else 128 + signum


def _reader_gone() -> int:
    """The reader of stdout went away: exit 0 quietly, as other Unix tools do."""
    from mlctl.errors import ExitCode

    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush must not fail again
    return ExitCode.OK
