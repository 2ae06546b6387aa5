"""Read a spec file into plain data plus the line/column of every node.

This is the reading end of the pipeline: it turns bytes into a ``Document``
and YAML failures into located ``Problem``s. It never validates meaning
(``mlctl.spec.validate`` does) and never writes (``mlctl.spec.edit`` does).

The C parser from ``ruamel.yaml.clib`` is used when present: composing the
node tree once gives both the data and the positions, which keeps
validating hundreds of specs a second cheap.

Input is bounded so that no file can make mlctl crash, hang or eat memory:
at most ``MAX_BYTES`` of text, ``MAX_DEPTH`` levels of nesting and
``MAX_NODES`` values once aliases are expanded (an "alias bomb" of a few
lines that expands to billions is refused, not walked). Every refusal is a
located problem, like any other syntax error.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML, nodes
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError

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

MAX_BYTES = 4 * 1024 * 1024  # the largest hub spec is under 100 KB; embedded code rarely passes 1 MB
MAX_DEPTH = 64  # nesting levels; a Kubernetes pod spec needs about 15
MAX_NODES = 1_000_000  # values once every alias is expanded

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
    return load_text(read_text(path), str(path))


def read_text(path: str | Path, what: str = "spec file") -> str:
    """The UTF-8 text of a file, within ``MAX_BYTES``; failures are problems that name the file."""
    source = str(path)

    def refuse(message: str, line: int = 0, column: int = 0) -> InvalidInput:
        problem = Problem(source, line, column, "", message)
        return InvalidInput(str(problem), [problem])

    try:
        with Path(path).open("rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise refuse("no such file") from None
    except IsADirectoryError:
        raise refuse(f"is a directory, not a {what}") from None
    except OSError as exc:
        raise refuse(f"cannot read ({exc.strerror or exc})") from None
    return decode(raw, source)


def decode(raw: bytes, source: str) -> str:
    """A file's bytes as text: at most ``MAX_BYTES`` of UTF-8, or a located problem."""
    if len(raw) > MAX_BYTES:
        problem = Problem(source, 0, 0, "", _too_large())
        raise InvalidInput(str(problem), [problem])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        problem = Problem(source, line, column, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        raise InvalidInput(str(problem), [problem]) from None


def _too_large() -> str:
    return f"larger than {MAX_BYTES:,} bytes, the most mlctl reads"


def load_text(text: str, source: str, what: str = "a function spec") -> Document:
    """Parse YAML text that should hold one mapping (``what`` names it in messages)."""
    if len(text) > MAX_BYTES:
        raise invalid([Problem(source, 1, 1, "", _too_large())])
    conflicts = list(_conflict_markers(text, source))
    if conflicts:
        raise invalid(conflicts)
    reader = _Reader(text)
    try:
        root = _compose(reader, text, source)
        if root is None:
            raise invalid([Problem(source, 1, 1, "", f"empty file: {what} is a YAML mapping")])
        shape = list(_check_shape(root, source))
        if shape:
            raise invalid(shape)
        if not isinstance(root, nodes.MappingNode):
            line, col = _mark(root)
            raise invalid([Problem(source, line, col, "", f"{what} must be a YAML mapping")])
        data = _construct(reader, root, source)
    except MarkedYAMLError as exc:
        raise invalid([_yaml_problem(exc, source)]) from None
    finally:
        reader.dispose()
    return Document(source=source, data=data, text=text, _root=root)


def _compose(reader: _Reader, text: str, source: str) -> nodes.Node | None:
    """The node tree, or located problems for what the parser cannot read."""
    try:
        return reader.compose()  # type: ignore[no-any-return]
    except ReaderError as exc:  # a control character, a lone surrogate
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise invalid(
            [Problem(source, line, column, "", f"invalid YAML: character #x{exc.character:04x} is not allowed")]
        ) from None
    except RecursionError:
        raise invalid([_too_deep(text, source)]) from None


def _too_deep(text: str, source: str) -> Problem:
    """Where nesting first passes ``MAX_DEPTH`` (found by walking the events, which does not recurse)."""
    from ruamel.yaml import events

    depth = 0
    try:
        for event in YAML(typ="safe", pure=True).parse(text):
            if isinstance(event, events.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    line, column = event.start_mark.line + 1, event.start_mark.column + 1
                    return Problem(source, line, column, "", _deep_message())
            elif isinstance(event, events.CollectionEndEvent):
                depth -= 1
    except YAMLError:
        pass
    return Problem(source, 1, 1, "", _deep_message())


def _deep_message() -> str:
    return f"nested more than {MAX_DEPTH} levels deep, the most mlctl reads"


def _construct(reader: _Reader, root: nodes.Node, source: str) -> Any:
    """Plain data from the checked tree; a value its tag cannot make (``!!int abc``) is located."""
    try:
        with warnings.catch_warnings():
            # ruamel warns on stderr about `1e3` (a float in YAML 1.2, which specs
            # are read as); the value is read right, the warning would only confuse
            warnings.simplefilter("ignore", _MantissaWarning)
            return reader.construct(root)
    except MarkedYAMLError:
        raise
    except (ValueError, TypeError, KeyError, ArithmeticError, RecursionError):
        raise invalid([_bad_value(root, source)]) from None


def _bad_value(root: nodes.Node, source: str) -> Problem:
    """The first scalar its tag cannot construct; its value is never shown (it may be a secret)."""
    if _CLoader is not None:
        constructor: Any = _CLoader("")
    else:  # pragma: no cover - depends on the installed wheels
        constructor = YAML(typ="safe", pure=True).constructor
    for node in _distinct(root):
        if not isinstance(node, nodes.ScalarNode):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", _MantissaWarning)
                constructor.construct_object(node, deep=True)
        except Exception:  # any failure of the tag's constructor is this value's fault
            line, column = _mark(node)
            tag = str(node.tag).rsplit(":", 1)[-1]
            digits = " (integers are limited to 4300 digits)" if tag == "int" and len(str(node.value)) > 4300 else ""
            return Problem(source, line, column, "", f"invalid YAML: the value is not a valid !!{tag}{digits}")
    return Problem(source, 1, 1, "", "invalid YAML: a value cannot be read")


def _children(node: nodes.Node) -> list[nodes.Node]:
    if isinstance(node, nodes.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, nodes.SequenceNode):
        return list(node.value)
    return []


def _distinct(root: nodes.Node) -> Iterator[nodes.Node]:
    """Every node once, however many aliases name it."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        stack.extend(reversed(_children(node)))


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


def _check_shape(root: nodes.Node, source: str) -> Iterator[Problem]:
    """Duplicate keys, keys that are not scalars, recursive aliases, too deep, too many values.

    Each node is visited once (an alias is not walked again), so an alias bomb
    costs no more than its text; sizes and heights are summed bottom-up.
    """
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    entered: set[int] = set()
    stack: list[tuple[nodes.Node, Path_, bool]] = [(root, (), False)]
    while stack:
        node, path, leaving = stack.pop()
        key = id(node)
        if leaving:
            kids = _children(node)
            size[key] = min(MAX_NODES + 1, 1 + sum(size[id(k)] for k in kids))
            height[key] = 1 + max((height[id(k)] for k in kids), default=0)
            continue
        if key in size:
            continue
        if key in entered:  # entered and not yet left: it contains itself
            line, column = _mark(node)
            yield Problem(source, line, column, dotted(path), "a recursive alias: this node contains itself")
            return
        entered.add(key)
        stack.append((node, path, True))
        if isinstance(node, nodes.MappingNode):
            yield from _mapping_keys(node, path, source)
            for name, value in reversed(node.value):
                label = name.value if isinstance(name, nodes.ScalarNode) else "?"
                stack.append((value, (*path, label), False))
                stack.append((name, (*path, label), False))
        elif isinstance(node, nodes.SequenceNode):
            for index in range(len(node.value) - 1, -1, -1):
                stack.append((node.value[index], (*path, index), False))
    if height[id(root)] > MAX_DEPTH + 1:  # scalars count as a level of their own
        node = root
        for _ in range(MAX_DEPTH):
            node = max(_children(node), key=lambda child: height[id(child)])
        line, column = _mark(node)
        yield Problem(source, line, column, "", _deep_message())
    elif size[id(root)] > MAX_NODES:
        yield Problem(
            source,
            1,
            1,
            "",
            f"more than {MAX_NODES:,} values once aliases are expanded, the most mlctl reads",
            "write the values out, or use fewer aliases of large parts",
        )


def _mapping_keys(node: nodes.MappingNode, path: Path_, source: str) -> Iterator[Problem]:
    seen: dict[Any, int] = {}
    for key, _value in node.value:
        if not isinstance(key, nodes.ScalarNode):
            line, col = _mark(key)
            yield Problem(source, line, col, dotted(path), "a mapping key must be a plain value, not a list or mapping")
            continue
        name = key.value
        if name in seen:
            line, col = _mark(key)
            yield Problem(
                source,
                line,
                col,
                dotted((*path, name)),
                f"duplicate key '{name}'",
                f"first defined on line {seen[name]}",
            )
        else:
            seen[name] = _mark(key)[0]


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
    if "\n" in text or "\r" in text:
        return text  # several lines are text as given, never cut to the first one
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
