"""How the live objects differ from what deploying the spec would give."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlctl.cluster.client import Cluster


@dataclass(frozen=True)
class Difference:
    """One object whose live copy (``before``; empty when absent) differs from the spec's (``after``)."""

    name: str  # kind/name
    before: str  # YAML, secrets redacted, without the fields the server changes on every write
    after: str
    exists: bool

    def unified(self) -> Iterator[str]:
        """The difference as ``diff -u`` lines."""
        import difflib

        return difflib.unified_diff(
            self.before.splitlines(keepends=True),
            self.after.splitlines(keepends=True),
            f"live/{self.name}" if self.exists else "/dev/null",
            f"spec/{self.name}",
        )


def diff(cluster: Cluster, objects: Sequence[dict[str, Any]]) -> list[Difference]:
    """Every object (stamped, in apply order) whose live copy differs from what applying it gives."""
    from mlctl import render
    from mlctl.cluster import apply
    from mlctl.spec import loader

    found = []
    for obj, live, wanted in apply.differences(cluster, objects):
        before = loader.dump(apply.comparable(render.redact([live])[0])) if live else ""
        after = loader.dump(apply.comparable(render.redact([wanted])[0]))
        if before != after:
            name = f"{obj['kind'].lower()}/{obj['metadata']['name']}"
            found.append(Difference(name, before, after, live is not None))
    return found
