"""Read a spec file into plain data plus the line/column of every node.

This is the reading end of the pipeline: it turns bytes into a ``Document``
and YAML failures into located ``Problem``s. It never validates meaning
(``mlctl.spec.validate`` does) and never writes (``mlctl.spec.edit`` does).

The C parser from ``ruamel.yaml.clib`` is used when present: composing the
node tree once gives both the data and the positions, which keeps
validating hundreds of specs a second cheap.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML, nodes
from ruamel.yaml.error import MarkedYAMLError

try:
    from ruamel.yaml.error import MantissaNoDotYAML1_1Warning as _MantissaWarning
except ImportError:  # pragma: no cover - older ruamel.yaml does not warn
    _MantissaWarning = UserWarning  # type: ignore[misc,assignment]

from mlctl.errors import InvalidInput, Problem, invalid

try:  # the C parser (ruamel.yaml.clib) is a speed-up; the pure one gives the same result
    from ruamel.yaml.cyaml import CSafeLoader as _CLoader
except ImportError:  # pragma: no cover - depends on the installed wheels
    _CLoader = None  # type: ignore[assignment,misc]


class _Reader:
    """One parse of one text: compose the node tree, then construct plain data from it."""

    def __init__(self, text: str) -> None:
        if _CLoader is not None and not _PURE:
            loader = _CLoader(text)
            self.compose: Any = loader.get_single_node
            self.construct: Any = loader.construct_document
            self.dispose: Any = getattr(loader, "dispose", lambda: None)
        else:
            yaml = YAML(typ="safe", pure=True)
            constructor, parser = yaml.get_constructor_parser(text)
            self.compose = yaml.composer.get_single_node
            self.construct = constructor.construct_document
            self.dispose = parser.dispose


_PURE = False  # tests set this to check the pure-Python path

Path_ = tuple[str | int, ...]

_CONFLICT = re.compile(r"^(<{7}|={7}|>{7})(\s|$)", re.MULTILINE)


@dataclass
class Document:
    """A loaded spec: the data and where each piece of it was written."""

    source: str
    data: dict[str, Any]
    text: str = ""
    _root: nodes.Node | None = field(default=None, repr=False)
    _positions: dict[Path_, tuple[int, int]] | None = field(default=None, repr=False)

    def locate(self, path: Path_) -> tuple[int, int]:
        """1-based (line, column) of the node at ``path``, or of its nearest parent.

        For a mapping key the position is that of the key, which is where a
        reader looks for "spec.resourcez".
        """
        if self._positions is None:
            self._positions = dict(_positions(self._root, ())) if self._root else {}
        for end in range(len(path), -1, -1):
            found = self._positions.get(tuple(path[:end]))
            if found:
                return found
        return (1, 1)

    def problem(self, path: Path_, message: str, hint: str = "", severity: str = "error") -> Problem:
        line, column = self.locate(path)
        return Problem(self.source, line, column, dotted(path), message, hint, severity)


def dotted(path: Path_) -> str:
    """``("spec", "env", 0, "name")`` -> ``spec.env[0].name``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def load_file(path: str | Path) -> Document:
    """Read and parse one spec file; raise ``InvalidInput`` with located problems."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{source}: no such file") from None
    except IsADirectoryError:
        raise InvalidInput(f"{source}: is a directory, not a spec file") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InvalidInput(f"{source}: cannot read ({exc.strerror})") from None
    return load_text(text, source)


def load_text(text: str, source: str, what: str = "a function spec") -> Document:
    """Parse YAML text that should hold one mapping (``what`` names it in messages)."""
    conflicts = list(_conflict_markers(text, source))
    if conflicts:
        raise invalid(conflicts)
    reader = _Reader(text)
    try:
        root = reader.compose()
        if root is None:
            raise invalid([Problem(source, 1, 1, "", f"empty file: {what} is a YAML mapping")])
        duplicates = list(_duplicate_keys(root, (), source))
        if duplicates:
            raise invalid(duplicates)
        if not isinstance(root, nodes.MappingNode):
            line, col = _mark(root)
            raise invalid([Problem(source, line, col, "", f"{what} must be a YAML mapping")])
        with warnings.catch_warnings():
            # ruamel warns on stderr about `1e3` (a float in YAML 1.2, which specs
            # are read as); the value is read right, the warning would only confuse
            warnings.simplefilter("ignore", _MantissaWarning)
            data = reader.construct(root)
    except MarkedYAMLError as exc:
        raise invalid([_yaml_problem(exc, source)]) from None
    finally:
        reader.dispose()
    return Document(source=source, data=data, text=text, _root=root)


def _mark(node: nodes.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _yaml_problem(exc: MarkedYAMLError, source: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
    return Problem(source, line, col, "", f"invalid YAML: {message or exc}")


def _conflict_markers(text: str, source: str) -> Iterator[Problem]:
    for match in _CONFLICT.finditer(text):
        if match.group(1).startswith("<"):
            line = text.count("\n", 0, match.start()) + 1
            yield Problem(
                source,
                line,
                1,
                "",
                "unresolved merge conflict marker",
                "resolve the conflict and keep one side before using this file",
            )


def _duplicate_keys(node: nodes.Node, path: Path_, source: str) -> Iterator[Problem]:
    if isinstance(node, nodes.MappingNode):
        seen: dict[Any, int] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, nodes.ScalarNode) else None
            if name is not None and name in seen:
                line, col = _mark(key)
                yield Problem(
                    source,
                    line,
                    col,
                    dotted((*path, name)),
                    f"duplicate key '{name}'",
                    f"first defined on line {seen[name]}",
                )
            elif name is not None:
                seen[name] = _mark(key)[0]
            yield from _duplicate_keys(value, (*path, name if name is not None else "?"), source)
    elif isinstance(node, nodes.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*path, index), source)


def _positions(node: nodes.Node, path: Path_) -> Iterator[tuple[Path_, tuple[int, int]]]:
    yield path, _mark(node)
    if isinstance(node, nodes.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            yield from _positions(value, child)
            yield child, _mark(key)  # a key's own position wins over its value's
    elif isinstance(node, nodes.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _positions(item, (*path, index))


def dump(data: Any) -> str:
    """Plain block YAML for output (not for editing files in place)."""
    import io

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    yaml.width = 4096
    yaml.representer.add_representer(str, _represent_str)
    yaml.representer.ignore_aliases = lambda _data: True  # manifests never use anchors
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


def _represent_str(representer: Any, value: str) -> Any:
    """Multi-line text (code, scripts) as a literal block, as a person would write it."""
    style = "|" if "\n" in value else None
    return representer.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def value(text: str) -> Any:
    """A command-line value read as YAML (``3`` -> 3, ``[1, 2]`` -> a list, ``true`` -> True).

    Only JSON's types come back: a date (``2024-01-31``), or text that is not
    YAML at all, stays the text it was, since runs and manifests carry JSON.
    """
    if not text.strip():
        return ""
    try:
        parsed = load_text(f"v: {text}\n", "<value>").data["v"]
    except InvalidInput:
        return text
    return parsed if _json_only(parsed) else text


def _json_only(node: Any) -> bool:
    if isinstance(node, dict):
        return all(isinstance(k, str) and _json_only(v) for k, v in node.items())
    if isinstance(node, list):
        return all(_json_only(v) for v in node)
    return node is None or isinstance(node, str | int | float | bool)
