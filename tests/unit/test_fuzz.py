"""A seeded mutation fuzz of the hub corpus, the override flags and the editing commands.

Each case takes a hub spec, damages it the way a careless user or an
attacker would (control characters, deep nesting, alias bombs, bad tags,
huge numbers, non-UTF-8 bytes, odd layouts, secrets in the wrong shape),
runs one command in-process and checks what a user must be able to rely on:

* no internal error (exit 70) and no traceback;
* every problem ``validate -o json`` reports names the file, a line and a column;
* no secret value of the inputs in any output;
* a refused edit leaves the file byte-identical;
* no case takes over 10 s.

The seed and the number of cases are fixed (``MLCTL_FUZZ_SEED``,
``MLCTL_FUZZ_CASES`` change them for a longer hunt), so a failure found in
CI is found again on any machine; the default budget keeps the whole file
under a minute on two cores.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.unit.support import CORPUS, Cli

SEED = int(os.environ.get("MLCTL_FUZZ_SEED", "20261202"))
CASES = int(os.environ.get("MLCTL_FUZZ_CASES", "500"))
LIMIT_SECONDS = 10.0
SECRET = "Zq8sEcReT9vX"  # a value that may appear in no output, whatever shape it is given in

Mutation = Callable[[random.Random, str], str | bytes]


def _line_at(rng: random.Random, text: str) -> int:
    lines = text.count("\n")
    return rng.randrange(max(lines, 1))


def _insert_line(rng: random.Random, text: str, line: str) -> str:
    lines = text.splitlines(keepends=True)
    at = _line_at(rng, text)
    indent = len(lines[at]) - len(lines[at].lstrip(" ")) if lines else 0
    lines.insert(at, " " * indent + line + "\n")
    return "".join(lines)


def _spec_line(text: str, line: str) -> str:
    """``line`` added under ``spec:`` (a spec without one gets it at the end)."""
    if "\nspec:\n" in text:
        return text.replace("\nspec:\n", f"\nspec:\n  {line}\n", 1)
    return text + f"spec:\n  {line}\n"


def control_character(rng: random.Random, text: str) -> str:
    at = rng.randrange(len(text) + 1)
    return text[:at] + chr(rng.choice([0, 1, 7, 8, 0x1B, 0x7F, 0xFFFE])) + text[at:]


def deep_nesting(rng: random.Random, text: str) -> str:
    depth = rng.choice([70, 500, 5000])
    return _spec_line(text, "args: " + "[" * depth + "]" * depth)


def recursive_alias(_rng: random.Random, text: str) -> str:
    return _spec_line(text, "args: &loop [*loop]")


def alias_bomb(rng: random.Random, text: str) -> str:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, rng.randrange(7, 14)):
        levels.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 10)}]")
    return text + "\n".join(levels) + "\n"


def bad_scalar(rng: random.Random, text: str) -> str:
    value = rng.choice(["!!int abc", "!!bool maybe", "!!float x", "!!timestamp 2024-99-99", "9" * 5000, "!!binary ~~"])
    return _spec_line(text, f"replicas: {value}")


def bad_quantity(rng: random.Random, text: str) -> str:
    value = rng.choice([".nan", ".inf", "-.inf", "1e9999999", "'1e999999999999'", "1.2.3", "'٣'", "[1]"])
    return _spec_line(text, f"resources: {{limits: {{memory: {value}, cpu: {value}}}}}")


def non_scalar_key(rng: random.Random, text: str) -> str:
    key = rng.choice(["[a, b]", "{a: 1}"])
    return _spec_line(text, f"node_selector: {{? {key} : c}}")


def not_utf8(rng: random.Random, text: str) -> bytes:
    raw = text.encode()
    at = rng.randrange(len(raw) + 1)
    return raw[:at] + bytes([rng.choice([0xFF, 0xC3, 0x80, 0xFE])]) + raw[at:]


def tab_after_flow(_rng: random.Random, text: str) -> str:
    return _spec_line(text, "node_selector: {}\t")


def crlf(_rng: random.Random, text: str) -> str:
    return text.replace("\n", "\r\n")


def flow_style(_rng: random.Random, text: str) -> str:
    import yaml

    data = yaml.safe_load(text)
    return json.dumps(data) if data is not None else text


def truncate(rng: random.Random, text: str) -> str:
    return text[: rng.randrange(len(text) + 1)]


def flip_byte(rng: random.Random, text: str) -> str:
    at = rng.randrange(max(len(text), 1))
    return text[:at] + rng.choice(":-[]{}&*!|>'\"%@`#,? \t") + text[at + 1 :]


def duplicate_line(rng: random.Random, text: str) -> str:
    lines = text.splitlines(keepends=True)
    if not lines:
        return text
    at = rng.randrange(len(lines))
    lines.insert(at, lines[at])
    return "".join(lines)


def secret_in_wrong_shape(rng: random.Random, text: str) -> str:
    shape = rng.choice([f"[{SECRET}]", f"{{v: {SECRET}}}", "123456789012345678", f"!!int {SECRET}"])
    if rng.random() < 0.5:
        return _spec_line(text, f"env: [{{name: DB_PASSWORD, value: {shape}}}]")
    replaced = text.replace("metadata:\n", f"metadata:\n  credentials:\n    access_key: {shape}\n", 1)
    return replaced if replaced != text else _insert_line(rng, text, f"password: {shape}")


MUTATIONS: list[Mutation] = [
    control_character,
    deep_nesting,
    recursive_alias,
    alias_bomb,
    bad_scalar,
    bad_quantity,
    non_scalar_key,
    not_utf8,
    tab_after_flow,
    crlf,
    flow_style,
    truncate,
    flip_byte,
    duplicate_line,
    secret_in_wrong_shape,
]


def _flags(rng: random.Random) -> list[str]:
    """Override flags, some of them hostile."""
    choices = [
        ["--set", f"spec.env=[{{name: API_TOKEN, value: [{SECRET}]}}]"],
        ["--set", "spec.replicas=" + "[" * 3000],
        ["--set", "spec.build.functionSourceCode=!!!"],
        ["--set", "metadata.labels.a=x\ny: z"],
        ["--preemption-mode", "junk"],
        ["--limits", "gpus=1.5"],
        ["--requests", "memory=1e9999999"],
        ["--env", "1BAD"],
        ["--threshold", "running=٣s"],
        ["--priority-class", "a b"],
        ["--env", f"DB_PASSWORD={SECRET}"],
    ]
    return rng.choice(choices)


def _edit(rng: random.Random) -> list[str]:
    return rng.choice(
        [
            ["set-env", "{file}", f"DB_PASSWORD={SECRET}", "B=2"],
            ["set-env", "{file}", "--file", "{envfile}"],
            ["set-priority", "{file}", "high"],
            ["set-thresholds", "{file}", "running=2h"],
            ["set-resources", "{file}", "--limits", "cpu=2,memory=1Gi"],
            ["set-preemption", "{file}", "prevent"],
        ]
    )


def _env_file(rng: random.Random) -> str:
    return rng.choice(
        [
            f"A=1\nDB_PASSWORD: {SECRET}\n",
            f"{SECRET}\n",
            f"A=1\nB='{SECRET}\n",
            f"TOKEN={SECRET}\nC=${{TOKEN}}\n",
        ]
    )


class _TooSlow(BaseException):
    """A case ran past its limit (a BaseException, so no ``except Exception`` in mlctl swallows it)."""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Fail a case that hangs, instead of hanging the test run."""

    def expire(_signum: int, _frame: object) -> None:
        raise _TooSlow(f"over {seconds:.0f}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _TooSlow as exc:
        pytest.fail(f"the case hung: {exc}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _cases() -> list[tuple[int, str, str, list[str]]]:
    rng = random.Random(SEED)
    specs = sorted(CORPUS.glob("*.yaml"))
    assert specs, f"the hub corpus is missing at {CORPUS}"
    cases = []
    for index in range(CASES):
        source = rng.choice(specs)
        mutation = rng.choice(MUTATIONS)
        command = rng.choice(["validate", "render", "edit", "edit"])
        cases.append((index, source.name, mutation.__name__, [command, str(rng.random())]))
    return cases


@pytest.mark.parametrize(("index", "source", "mutation", "how"), _cases())
def test_hostile_input_is_refused_cleanly(
    index: int, source: str, mutation: str, how: list[str], cli: Cli, tmp_path: Path
) -> None:
    rng = random.Random(f"{SEED}-{index}")
    damaged = globals()[mutation](rng, (CORPUS / source).read_text(encoding="utf-8"))
    path = tmp_path / "fn.yaml"
    path.write_bytes(damaged if isinstance(damaged, bytes) else damaged.encode("utf-8", "surrogatepass"))
    before = path.read_bytes()
    env_file = tmp_path / "vars.env"
    env_file.write_text(_env_file(rng))
    command = how[0]
    if command == "validate":
        args: list[str] = ["validate", "-o", "json", str(path)]
    elif command == "render":
        args = ["render", str(path), *(_flags(rng) if rng.random() < 0.6 else [])]
    else:
        args = [a.format(file=path, envfile=env_file) for a in _edit(rng)]

    started = time.monotonic()
    with _time_limit(LIMIT_SECONDS + 5):
        result = cli(*args)
    elapsed = time.monotonic() - started

    said = result.out + result.err
    assert result.code != 70, f"internal error on {mutation} of {source}: {result.err[-2000:]}"
    assert "Traceback" not in said
    assert elapsed < LIMIT_SECONDS, f"{' '.join(args[:1])} took {elapsed:.1f}s on {mutation} of {source}"
    assert SECRET not in said, f"a secret value was printed ({mutation} of {source}, {args})"
    if command == "validate" and result.code == 3:
        for problem in json.loads(result.out)["problems"]:
            assert problem["file"] == str(path), problem
            assert problem["line"] >= 1 and problem["column"] >= 1, problem
    if command == "edit" and result.code != 0:
        assert path.read_bytes() == before, f"a refused edit changed the file ({mutation} of {source})"
