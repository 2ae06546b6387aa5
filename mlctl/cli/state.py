"""Global options of one invocation (``--config``, ``--debug``) and the config they load."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlctl.config import Config


@dataclass
class Options:
    config_file: str | None = None
    debug: bool = False
    _config: Config | None = None


options = Options()


def config() -> Config:
    """The effective config, read once per invocation."""
    if options._config is None:
        from mlctl import config as config_

        options._config = config_.load(options.config_file)
    return options._config


def reset() -> None:
    """Forget what the last invocation read (tests run many in one process)."""
    options.config_file = None
    options.debug = False
    options._config = None
