"""The command table (what `mlctl --help` lists) and the registered commands agree."""

from __future__ import annotations

from mlctl.cli import commands, main


def _registered() -> set[str]:
    names = set()
    for info in main.app.registered_commands:
        if info.callback is main._stand_in:
            continue
        names.add(info.name or info.callback.__name__.replace("_", "-"))  # type: ignore[union-attr]
    names |= {group.name for group in main.app.registered_groups if group.name}
    return names


def test_every_listed_command_exists_and_every_command_is_listed() -> None:
    commands.load_all()
    assert _registered() == set(commands.TABLE)


def test_help_lists_every_command_without_importing_their_modules(capsys) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    code = (
        "import sys; from mlctl.cli import main; rc = main.invoke(['--help']); "
        "print(sorted(m for m in sys.modules if m.startswith('mlctl.cli.commands.')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    for name in commands.TABLE:
        assert name in result.stdout
    assert result.stdout.strip().endswith("[]")
