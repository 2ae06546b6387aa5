"""Run ids and run parameters."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from mlctl.errors import InvalidInput


def new_run_id() -> str:
    """8 hex digits: short enough for object names, unique enough per namespace."""
    return secrets.token_hex(4)


def parse_params(values: Sequence[str]) -> dict[str, Any]:
    """``--param k=v``: the value is read as YAML (``3`` -> 3, ``[1, 2]`` -> list)."""
    from mlctl.spec import loader

    params: dict[str, Any] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--param '{value}': expected KEY=VALUE")
        params[key.strip()] = loader.value(raw)
    return params
