"""Importing this package registers every command on the app."""

from __future__ import annotations

from mlctl.cli.commands import config_cmd, deploy, edit, hub, inspect, render, run, runs, triggers, validate  # noqa: F401
