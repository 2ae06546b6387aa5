"""Options shared by several commands, and turning them into core values.

The override flags (render, deploy, run, diff) follow one precedence
ladder, stated in every command's help: see ``mlctl.spec.overrides``.
``formats`` is the one declaration of what a command's ``-o`` accepts:
click refuses any other value with exit 2 before the command runs.
"""

from __future__ import annotations

import functools
import inspect
import os
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # imported when used: every command module imports this one at start-up
    from mlctl.spec import overrides as overrides_

PANEL = "Overrides (spec < --env-file < --env < other flags < --set)"

EnvFiles = Annotated[
    list[str] | None,
    typer.Option(
        "--env-file",
        help="Env file (python-dotenv format); repeatable, later files win.",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
Env = Annotated[
    list[str] | None,
    typer.Option(
        "--env",
        "-e",
        help="K=V, or K to take the value from your environment; repeatable.",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
Sets = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="PATH=VALUE, e.g. spec.replicas=3 (value read as YAML); repeatable; wins over everything.",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
Image = Annotated[
    str | None, typer.Option("--image", help="Container image.", rich_help_panel=PANEL, show_default=False)
]
Requests = Annotated[
    list[str] | None,
    typer.Option(
        "--requests",
        help="cpu=1,memory=1Gi (patches spec.resources.requests).",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
Limits = Annotated[
    list[str] | None,
    typer.Option(
        "--limits",
        help="cpu=2,memory=2Gi,gpus=1 (patches spec.resources.limits).",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
GpuType = Annotated[
    str | None,
    typer.Option(
        "--gpu-type",
        help="Resource name for gpus= (default nvidia.com/gpu).",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
Preemption = Annotated[
    str | None,
    typer.Option(
        "--preemption-mode", help="allow | constrain | prevent | none.", rich_help_panel=PANEL, show_default=False
    ),
]
Priority = Annotated[
    str | None,
    typer.Option("--priority-class", help="Pod priority class name.", rich_help_panel=PANEL, show_default=False),
]
NodeSelector = Annotated[
    list[str] | None,
    typer.Option(
        "--node-selector",
        help="K=V node label (an empty V removes K); repeatable.",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
Thresholds = Annotated[
    list[str] | None,
    typer.Option(
        "--threshold",
        help="STATE=TIME, e.g. running=2h; replaces the spec's thresholds for this run.",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
ShowSecrets = Annotated[
    bool,
    typer.Option("--show-secrets", help="Print Secret data and secret-looking env values instead of redacting them."),
]


def overrides(
    env_file: list[str] | None = None,
    env: list[str] | None = None,
    set_: list[str] | None = None,
    image: str | None = None,
    requests: list[str] | None = None,
    limits: list[str] | None = None,
    gpu_type: str | None = None,
    preemption_mode: str | None = None,
    priority_class: str | None = None,
    node_selector: list[str] | None = None,
    threshold: list[str] | None = None,
) -> overrides_.Overrides:
    """The flags as an ``Overrides`` value (reads the env files: the I/O end)."""
    from mlctl.spec import envfile
    from mlctl.spec import overrides as overrides_

    return overrides_.Overrides(
        env_files=tuple(envfile.read(path) for path in env_file or []),
        env=overrides_.parse_env(env or [], os.environ),
        image=image,
        requests=overrides_.parse_resource_list(requests or [], "--requests"),
        limits=overrides_.parse_resource_list(limits or [], "--limits"),
        gpu_type=gpu_type,
        preemption_mode=preemption_mode,
        priority_class=priority_class,
        node_selector={k: v or "" for k, v in overrides_.parse_pairs(node_selector or [], "--node-selector")},
        thresholds={k: v or "" for k, v in overrides_.parse_pairs(threshold or [], "--threshold")},
        sets=overrides_.parse_sets(set_ or []),
    )


_FLAGS: dict[str, Any] = {
    "env_file": EnvFiles,
    "env": Env,
    "set_": Sets,
    "image": Image,
    "requests": Requests,
    "limits": Limits,
    "gpu_type": GpuType,
    "preemption_mode": Preemption,
    "priority_class": Priority,
    "node_selector": NodeSelector,
    "threshold": Thresholds,
}


def with_overrides(command: Callable[..., int]) -> Callable[..., int]:
    """Give a command the override flags; it receives them parsed, as its ``overrides`` argument.

    The flags are added to the signature Typer reads, so every command that
    takes overrides shows and parses the same ones, in one place.
    """
    # resolve the command's own annotations here, in its module: Typer then reads objects, not strings
    hints = typing.get_type_hints(command, localns={"Overrides": object}, include_extras=True)
    signature = inspect.signature(command)
    own = [p.replace(annotation=hints[p.name]) for p in signature.parameters.values() if p.name != "overrides"]
    flags = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
        for name, annotation in _FLAGS.items()
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        given = {name: kwargs.pop(name, None) for name in _FLAGS}
        return command(*args, overrides=overrides(**given), **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*own, *flags])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in own} | _FLAGS | {"return": int}
    return wrapper


def formats(*names: str, help: str = "") -> Any:
    """The ``--output/-o`` option of a command that prints in these formats: ``Annotated[str, formats(...)]``.

    Any other value is a usage error (exit 2), checked by click for every
    command alike.
    """
    import click

    return typer.Option(
        "--output", "-o", click_type=click.Choice(names), help=help or " | ".join(names) + ".", show_default=False
    )


Files = Annotated[list[str], typer.Argument(help="Spec files or hub:// references.", show_default=False)]
Engine = Annotated[
    str | None, typer.Option("--engine", help="Serving engine: nuclio | kubernetes.", show_default=False)
]

CLUSTER_PANEL = "Cluster"
Kubeconfig = Annotated[
    str | None,
    typer.Option(
        "--kubeconfig",
        help="Kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster).",
        rich_help_panel=CLUSTER_PANEL,
        show_default=False,
    ),
]
Context = Annotated[
    str | None,
    typer.Option("--context", help="Kubeconfig context.", rich_help_panel=CLUSTER_PANEL, show_default=False),
]
Namespace = Annotated[
    str | None,
    typer.Option(
        "--namespace",
        "-n",
        help="Namespace (default: the kubeconfig context's, else 'default').",
        rich_help_panel=CLUSTER_PANEL,
        show_default=False,
    ),
]
Timeout = Annotated[
    str,
    typer.Option(
        "--timeout", help="How long to wait, e.g. 30s, 5m (also bounds API retries).", rich_help_panel=CLUSTER_PANEL
    ),
]


def seconds(text: str, flag: str = "--timeout") -> float:
    """A time string as seconds; a negative one waits for ever."""
    from mlctl.errors import InvalidInput
    from mlctl.spec import durations

    try:
        value = durations.parse_seconds(text)
    except durations.TimeStringError as exc:
        raise InvalidInput(f"{flag}: {exc}") from None
    return float("inf") if value < 0 else value
