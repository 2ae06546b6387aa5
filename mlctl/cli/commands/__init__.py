"""Importing this package registers every command on the app."""

from __future__ import annotations

from mlctl.cli.commands import config_cmd, edit, render, validate  # noqa: F401
