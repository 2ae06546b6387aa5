"""hub://NAME[:TAG] references and ``mlctl hub``: against a corpus-built hub on 127.0.0.1.

The hub is built once per session from the MLRun hub corpus in MLRun's
layout (``hub_fixtures``) and read two ways: served over HTTP on a free
port of 127.0.0.1 and as a ``file://`` directory. Nothing here talks to any
other host: a guard refuses every connection that is not to 127.0.0.1.
Every test gets its own empty cache (``MLCTL_CACHE_DIR``).

Rendering of the non-job kinds (serving, remote, dask) is being written
elsewhere; while ``mlctl.render`` answers "not rendered by this version
yet" for them, their tests assert load and validation only.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlctl import hub, pipeline
from mlctl.errors import ExitCode, InvalidInput, MlctlError
from mlctl.hub import cache, report
from mlctl.hub import ref as ref_
from mlctl.hub import source as source_
from mlctl.render.context import RenderContext
from mlctl.spec import config_files
from tests.unit import hub_fixtures


class Recorder(report.Reporter):
    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.started: list[tuple[str, int | None]] = []
        self.progress: list[int] = []
        self.finished: list[str] = []

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def download_started(self, url: str, total: int | None) -> None:
        self.started.append((url, total))

    def download_progress(self, url: str, done: int, total: int | None) -> None:
        self.progress.append(done)

    def download_finished(self, url: str) -> None:
        self.finished.append(url)


# -- fixtures ---------------------------------------------------------------


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> hub_fixtures.BuiltHub:
    return hub_fixtures.build(tmp_path_factory.mktemp("hub"))


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty cache per test, no hub settings from outside, and only 127.0.0.1 reachable."""
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("MLCTL_CACHE_DIR", str(cache_dir))
    for name in ("MLCTL_HUB_URL", "MLRUN_HUB_URL", "MLCTL_HUB_TIMEOUT", "MLCTL_HUB_CHANNEL"):
        monkeypatch.delenv(name, raising=False)
    real = socket.create_connection

    def local_only(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        if address[0] != "127.0.0.1":
            raise AssertionError(f"a unit test tried to reach {address[0]}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", local_only)
    return cache_dir


@pytest.fixture
def server(built: hub_fixtures.BuiltHub) -> Iterator[hub_fixtures.HubServer]:
    served = hub_fixtures.HubServer(built.root)
    yield served
    served.stop()


@pytest.fixture(params=["http", "file"])
def hub_url(request: pytest.FixtureRequest, built: hub_fixtures.BuiltHub) -> Iterator[str]:
    """The same hub over HTTP and as a file:// directory."""
    if request.param == "file":
        yield built.root.as_uri()
        return
    served = hub_fixtures.HubServer(built.root)
    yield served.url
    served.stop()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """Installed as the hub's reporter for calls that name none (as pipeline.read's)."""
    recording = Recorder()
    previous = report.install(recording)
    yield recording
    report.install(previous)


def cached_files(cache_dir: Path) -> list[Path]:
    return sorted(p for p in cache_dir.rglob("*") if p.is_file()) if cache_dir.exists() else []


def text_of(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# -- references and URLs (pure) ---------------------------------------------


def test_ref_without_tag_means_latest() -> None:
    assert ref_.parse("hub://aggregate") == ref_.Ref("aggregate", "latest")


def test_ref_tag_is_the_version_after_the_colon() -> None:
    assert ref_.parse("hub://aggregate:1.2.0") == ref_.Ref("aggregate", "1.2.0")


def test_ref_names_normalise_like_mlrun_and_find_the_underscore_directory() -> None:
    parsed = ref_.parse("hub://Auto_Trainer:1.0.0")
    assert (parsed.name, parsed.directory, str(parsed)) == (
        "auto-trainer",
        "auto_trainer",
        "hub://auto-trainer:1.0.0",
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("hub://", "no function name"),
        ("hub://aggregate:", "empty tag"),
        ("hub://default/aggregate", "hub://SOURCE/NAME"),
        ("hub://..", "not a hub function name"),
        ("hub://aggregate:../x", "not a hub tag"),
        ("hub://aggregate:1..2", "not a hub tag"),
    ],
)
def test_bad_refs_are_invalid_input(text: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=says) as caught:
        ref_.parse(text)
    assert caught.value.exit_code == ExitCode.INVALID_INPUT


def test_urls_follow_mlruns_hub_layout() -> None:
    public = source_.parse("")
    assert public.url(public.catalog_path()) == ("https://mlrun.github.io/marketplace/functions/master/catalog.json")
    item = ref_.parse("hub://auto-trainer")
    assert public.url(public.item_path(item.directory, item.tag)) == (
        "https://mlrun.github.io/marketplace/functions/master/auto_trainer/latest/src/function.yaml"
    )


def test_channel_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLCTL_HUB_CHANNEL", "development")
    hub_source = hub.resolve("https://mirror.example/hub/")
    assert hub_source.url(hub_source.catalog_path()) == (
        "https://mirror.example/hub/functions/development/catalog.json"
    )


@pytest.mark.parametrize("url", ["s3://bucket/hub", "v3io:///projects/hub"])
def test_unsupported_hub_schemes_are_invalid_input(url: str) -> None:
    with pytest.raises(InvalidInput, match="not supported"):
        hub.resolve(url)


def test_mlruns_old_template_hub_url_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLRUN_HUB_URL", "https://raw.githubusercontent.com/mlrun/functions/{tag}/{name}/function.yaml")
    with pytest.raises(InvalidInput, match="old template form"):
        hub.fetch_text("hub://aggregate")


@pytest.mark.parametrize("value", ["abc", "0", "-3"])
def test_bad_timeout_setting_is_invalid_input(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("MLCTL_HUB_TIMEOUT", value)
    with pytest.raises(InvalidInput):
        hub.resolve_timeout()


# -- list, show, fetch, pull: over HTTP and file:// -------------------------


def test_list_shows_the_latest_version_of_every_function(hub_url: str, built: hub_fixtures.BuiltHub) -> None:
    entries = hub.list_functions(source=hub_url)
    by_name = {e.name: e for e in entries}
    assert len(entries) == len(built.versions)
    assert by_name["auto-trainer"].version == built.latest_version("auto_trainer") == "1.27.0"
    assert {e.kind for e in entries} >= {"job", "remote", "serving", "dask"}


def test_list_filters_by_category(hub_url: str, built: hub_fixtures.BuiltHub) -> None:
    entries = hub.list_functions("data-prep", source=hub_url)
    expected = {ref_.normalize(d) for d, cats in built.categories.items() if "data-prep" in cats}
    assert {e.name for e in entries} == expected
    assert "aggregate" in expected


def test_show_lists_versions_in_version_order(hub_url: str, built: hub_fixtures.BuiltHub) -> None:
    shown = hub.show("auto-trainer", source=hub_url)
    assert shown.versions == built.versions["auto_trainer"]
    assert shown.versions.index("1.10.0") == shown.versions.index("1.9.0") + 1
    assert shown.entry.version == "1.27.0"
    assert shown.url.endswith("functions/master/auto_trainer/latest/src/function.yaml")


def test_show_of_a_tag_is_that_version(hub_url: str) -> None:
    shown = hub.show("hub://auto-trainer:1.3.0", source=hub_url)
    assert (shown.entry.tag, shown.entry.version) == ("1.3.0", "1.3.0")


def test_fetch_without_tag_is_the_latest_spec(hub_url: str, built: hub_fixtures.BuiltHub) -> None:
    text, label = hub.fetch_text("hub://aggregate", source=hub_url)
    assert text == text_of(built.corpus_file("aggregate"))
    assert label.endswith("functions/master/aggregate/latest/src/function.yaml")


def test_fetch_with_tag_is_that_version(hub_url: str, built: hub_fixtures.BuiltHub) -> None:
    text, _ = hub.fetch_text("hub://auto-trainer:1.0.0", source=hub_url)
    assert text == text_of(built.corpus_file("auto_trainer", "1.0.0"))
    assert text != text_of(built.corpus_file("auto_trainer"))


def test_unknown_version_names_the_versions_there_are(hub_url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        hub.fetch("hub://aggregate:9.9.9", source=hub_url)
    message = caught.value.message
    assert "no version '9.9.9'" in message and "1.0.0" in message
    assert "aggregate/9.9.9/src/function.yaml" in message
    assert caught.value.exit_code == ExitCode.INVALID_INPUT


def test_unknown_function_suggests_a_close_name(hub_url: str) -> None:
    with pytest.raises(InvalidInput, match="did you mean aggregate"):
        hub.fetch("hub://agregate", source=hub_url)


def test_pull_writes_the_spec_and_keeps_an_existing_file(
    hub_url: str, built: hub_fixtures.BuiltHub, tmp_path: Path
) -> None:
    dest = tmp_path / "specs"
    dest.mkdir()
    pulled = hub.pull("hub://aggregate:1.1.0", dest, source=hub_url)
    assert pulled.path == dest / "aggregate.yaml"
    assert pulled.path.read_bytes() == built.corpus_file("aggregate", "1.1.0").read_bytes()

    with pytest.raises(InvalidInput, match="already exists"):
        hub.pull("hub://aggregate", dest / "aggregate.yaml", source=hub_url)
    assert pulled.path.read_bytes() == built.corpus_file("aggregate", "1.1.0").read_bytes()

    hub.pull("hub://aggregate", dest / "aggregate.yaml", force=True, source=hub_url)
    assert pulled.path.read_bytes() == built.corpus_file("aggregate").read_bytes()
    assert [p.name for p in dest.iterdir()] == ["aggregate.yaml"]  # no temporary files left


# -- through the pipeline: what validate/render/deploy/run/diff read --------


def test_pipeline_loads_and_renders_a_hub_job(hub_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLCTL_HUB_URL", hub_url)
    config = config_files.load()
    loaded = pipeline.load("hub://aggregate", config)
    assert loaded.function.kind == "job"
    assert loaded.document.source.endswith("aggregate/latest/src/function.yaml")
    objects = pipeline.render(loaded, config, RenderContext(run_id="hubtest1"))
    assert any(o.get("kind") == "Job" for o in objects)


@pytest.mark.parametrize("kind", ["serving", "remote", "dask"])
def test_pipeline_loads_hub_functions_of_other_kinds(
    kind: str, built: hub_fixtures.BuiltHub, hub_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLCTL_HUB_URL", hub_url)
    config = config_files.load()
    directory = built.of_kind(kind)
    loaded = pipeline.load(f"hub://{directory}", config)
    assert loaded.function.kind == kind
    try:
        objects = pipeline.render(loaded, config, RenderContext(run_id="hubtest1"))
    except InvalidInput as exc:
        # rendering for this kind is still being written (see the module docstring)
        assert "not rendered by this version" in exc.message
    else:
        assert objects


def test_spec_problems_in_a_hub_spec_name_its_url(
    built: hub_fixtures.BuiltHub, server: hub_fixtures.HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLCTL_HUB_URL", server.url)
    with pytest.raises(InvalidInput) as caught:
        pipeline.load("hub://aggregate", config_files.load(), _bad_override())
    assert caught.value.problems
    assert caught.value.problems[0].file == (f"{server.url}/functions/master/aggregate/latest/src/function.yaml")


def _bad_override() -> Any:
    from mlctl.spec import overrides

    return overrides.Overrides(sets=overrides.parse_sets(["spec.resourcez=1"]))


# -- the cache and an unreliable hub (HTTP only) ----------------------------


def test_a_fetch_is_cached_with_its_sha256(
    server: hub_fixtures.HubServer, built: hub_fixtures.BuiltHub, isolated: Path
) -> None:
    recorder = Recorder()
    fetched = hub.fetch("hub://aggregate", source=server.url, reporter=recorder)
    data = built.corpus_file("aggregate").read_bytes()
    entry = cache.load(cache.path(hub.resolve(server.url).key, "functions/master/aggregate/latest/src/function.yaml"))
    assert entry is not None and entry.data == data
    assert entry.sha256 == fetched.sha256 == hashlib.sha256(data).hexdigest()
    assert recorder.started == [(fetched.url, None)] and recorder.finished == [fetched.url]
    assert recorder.progress[-1] == len(data)


def test_offline_a_cached_spec_is_used_and_its_age_reported(
    server: hub_fixtures.HubServer,
    built: hub_fixtures.BuiltHub,
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLCTL_HUB_URL", server.url)
    first = pipeline.read("hub://aggregate")
    server.stop()

    again = pipeline.read("hub://aggregate")
    assert again.text == first.text == text_of(built.corpus_file("aggregate"))
    assert again.source == first.source  # errors still name the hub URL
    [warning] = recorder.warnings
    assert "cannot connect" in warning and server.url in warning
    assert "using the cached copy fetched 0 seconds ago" in warning


def test_offline_without_a_cached_copy_names_the_url(server: hub_fixtures.HubServer, isolated: Path) -> None:
    server.stop()
    with pytest.raises(MlctlError) as caught:
        hub.fetch_text("hub://aggregate", source=server.url)
    assert caught.value.exit_code == ExitCode.HUB
    assert f"{server.url}/functions/master/aggregate/latest/src/function.yaml" in caught.value.message
    assert "no cached copy" in caught.value.message
    assert cached_files(isolated) == []


@pytest.mark.parametrize(
    ("mode", "exit_code", "says"),
    [
        ("404", ExitCode.INVALID_INPUT, "not found (HTTP 404)"),
        ("500", ExitCode.HUB, "HTTP 500"),
        ("garbage-html", ExitCode.HUB, "not a function spec"),
        ("garbage-yaml", ExitCode.HUB, "not valid YAML at line 3"),
        ("garbage-binary", ExitCode.HUB, "not UTF-8"),
        ("hang", ExitCode.HUB, "no answer within 0.5 s"),
        ("truncated", ExitCode.HUB, "cut short"),
    ],
)
def test_a_broken_hub_is_a_clear_error_and_nothing_is_cached(
    server: hub_fixtures.HubServer, isolated: Path, mode: str, exit_code: int, says: str
) -> None:
    server.mode = mode
    started = time.monotonic()
    with pytest.raises(MlctlError) as caught:
        hub.fetch("hub://aggregate", source=server.url, timeout=0.5, reporter=Recorder())
    assert time.monotonic() - started < 10
    assert caught.value.exit_code == exit_code
    assert says in caught.value.message
    assert f"{server.url}/functions/master/" in caught.value.message
    assert cached_files(isolated) == []


def test_the_timeout_comes_from_the_environment(
    server: hub_fixtures.HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLCTL_HUB_TIMEOUT", "0.3")
    server.mode = "hang"
    with pytest.raises(MlctlError, match=r"no answer within 0\.3 s"):
        hub.fetch_text("hub://aggregate", source=server.url)


def test_a_failing_hub_falls_back_to_the_cache_but_garbage_does_not(
    server: hub_fixtures.HubServer, built: hub_fixtures.BuiltHub, isolated: Path
) -> None:
    hub.fetch("hub://aggregate", source=server.url, reporter=Recorder())
    before = {p: p.read_bytes() for p in cached_files(isolated)}

    server.mode = "500"
    recorder = Recorder()
    fetched = hub.fetch("hub://aggregate", source=server.url, reporter=recorder)
    assert fetched.from_cache and fetched.text == text_of(built.corpus_file("aggregate"))
    assert "HTTP 500" in recorder.warnings[0]

    server.mode = "garbage-html"
    with pytest.raises(MlctlError, match="not a function spec"):
        hub.fetch("hub://aggregate", source=server.url, reporter=Recorder())
    assert {p: p.read_bytes() for p in cached_files(isolated)} == before  # the good copy stays


def test_a_corrupt_cache_entry_is_not_used(server: hub_fixtures.HubServer, isolated: Path) -> None:
    hub.fetch("hub://aggregate", source=server.url, reporter=Recorder())
    [data] = [p for p in cached_files(isolated) if p.name == "function.yaml"]
    data.write_bytes(data.read_bytes()[:100])
    server.stop()
    with pytest.raises(MlctlError, match="no cached copy"):
        hub.fetch("hub://aggregate", source=server.url, reporter=Recorder())


def test_the_catalog_is_cached_too(server: hub_fixtures.HubServer) -> None:
    names = [e.name for e in hub.list_functions(source=server.url, reporter=Recorder())]
    server.stop()
    recorder = Recorder()
    assert [e.name for e in hub.list_functions(source=server.url, reporter=recorder)] == names
    assert "catalog.json" in recorder.warnings[0]


def test_a_local_hub_is_read_in_place_and_not_cached(built: hub_fixtures.BuiltHub, isolated: Path) -> None:
    text, label = hub.fetch_text("hub://aggregate", source=str(built.root))
    assert text == text_of(built.corpus_file("aggregate"))
    assert label == str(built.root / "functions/master/aggregate/latest/src/function.yaml")
    assert cached_files(isolated) == []


def test_the_conflicted_corpus_file_is_refused_before_caching(tmp_path: Path, isolated: Path) -> None:
    conflicted = hub_fixtures.build(tmp_path / "hub", [hub_fixtures.CORPUS / hub_fixtures.CONFLICTED])
    served = hub_fixtures.HubServer(conflicted.root)
    try:
        with pytest.raises(MlctlError, match="unresolved merge conflict markers at line 5") as caught:
            hub.fetch("hub://rnn-serving", source=served.url, reporter=Recorder())
    finally:
        served.stop()
    assert caught.value.exit_code == ExitCode.HUB
    assert cached_files(isolated) == []


# -- the CLI -----------------------------------------------------------------


def test_cli_hub_list_json(hub_url: str, built: hub_fixtures.BuiltHub, cli: Any) -> None:
    result = cli("hub", "list", "-o", "json", "--hub", hub_url)
    assert result.code == 0, result.err
    listed = json.loads(result.out)
    assert len(listed) == len(built.versions)
    assert {"name": "aggregate", "kind": "job"}.items() <= listed[0].items()


def test_cli_hub_list_table_by_category(built: hub_fixtures.BuiltHub, cli: Any) -> None:
    result = cli("hub", "list", "--category", "data-prep", "--hub", built.root.as_uri())
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "KIND", "CATEGORIES", "DESCRIPTION"]
    assert lines[1].split()[:3] == ["aggregate", built.latest_version("aggregate"), "job"]


def test_cli_hub_show(server: hub_fixtures.HubServer, cli: Any) -> None:
    result = cli("hub", "show", "auto-trainer:1.2.0", "-o", "json", "--hub", server.url)
    assert result.code == 0, result.err
    shown = json.loads(result.out)
    assert (shown["ref"], shown["version"]) == ("hub://auto-trainer:1.2.0", "1.2.0")
    assert shown["url"] == f"{server.url}/functions/master/auto_trainer/1.2.0/src/function.yaml"


def test_cli_hub_pull_refuses_to_overwrite_without_force(
    server: hub_fixtures.HubServer, built: hub_fixtures.BuiltHub, tmp_path: Path, cli: Any
) -> None:
    dest = tmp_path / "train.yaml"
    assert cli("hub", "pull", "auto-trainer", "-o", dest, "--hub", server.url).code == 0
    assert dest.read_bytes() == built.corpus_file("auto_trainer").read_bytes()

    refused = cli("hub", "pull", "auto-trainer:1.0.0", "-o", dest, "--hub", server.url)
    assert refused.code == 3 and "already exists" in refused.err
    assert dest.read_bytes() == built.corpus_file("auto_trainer").read_bytes()

    forced = cli("hub", "pull", "auto-trainer:1.0.0", "-o", dest, "--force", "--hub", server.url)
    assert forced.code == 0, forced.err
    assert dest.read_bytes() == built.corpus_file("auto_trainer", "1.0.0").read_bytes()


def test_cli_hub_pull_to_stdout(built: hub_fixtures.BuiltHub, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLCTL_HUB_URL", built.root.as_uri())
    result = cli("hub", "pull", "aggregate", "-o", "-")
    assert result.code == 0, result.err
    assert result.out == text_of(built.corpus_file("aggregate"))


def test_cli_validate_and_render_take_hub_refs(
    server: hub_fixtures.HubServer, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    monkeypatch.setenv("MLCTL_HUB_URL", server.url)
    validated = cli("validate", "hub://aggregate", "hub://auto-trainer:1.3.0")
    assert validated.code == 0, validated.err
    rendered = cli("render", "hub://aggregate")
    assert rendered.code == 0, rendered.err
    assert "kind: Job" in rendered.out
    item = f"{server.url}/functions/master/aggregate/latest/src/function.yaml"
    assert f"fetching {item}" in rendered.err  # progress, on stderr only


def test_cli_warns_on_stderr_when_offline(
    server: hub_fixtures.HubServer, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    monkeypatch.setenv("MLCTL_HUB_URL", server.url)
    assert cli("validate", "hub://aggregate").code == 0
    server.stop()
    offline = cli("validate", "hub://aggregate")
    assert offline.code == 0, offline.err
    assert "warning:" in offline.err and "using the cached copy fetched" in offline.err


def test_validate_warns_of_a_stale_cached_copy_in_a_fresh_process(
    server: hub_fixtures.HubServer, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    """Not only ``mlctl hub``: any command that reads a hub:// source says that it used the cache."""
    monkeypatch.setenv("MLCTL_HUB_URL", server.url)
    assert cli("validate", "hub://aggregate").code == 0  # cached now
    server.stop()
    offline = subprocess.run(
        [sys.executable, "-m", "mlctl", "validate", "hub://aggregate"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert offline.returncode == 0, offline.stderr
    assert "warning:" in offline.stderr and "using the cached copy fetched" in offline.stderr


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("hub", "show", "no-such-function"), "the hub has no function 'no-such-function'"),
        (("render", "hub://aggregate:7.7.7"), "no version '7.7.7'"),
        (("hub", "pull", "hub://default/aggregate"), "hub://SOURCE/NAME"),
    ],
)
def test_cli_exit_code_3_for_references_that_name_nothing(
    server: hub_fixtures.HubServer,
    monkeypatch: pytest.MonkeyPatch,
    cli: Any,
    argv: tuple[str, ...],
    says: str,
) -> None:
    monkeypatch.setenv("MLCTL_HUB_URL", server.url)
    result = cli(*argv)
    assert result.code == 3
    assert says in result.err


def test_cli_exit_code_8_when_the_hub_cannot_be_reached(server: hub_fixtures.HubServer, cli: Any) -> None:
    server.stop()
    result = cli("hub", "list", "--hub", server.url)
    assert result.code == ExitCode.HUB == 8
    assert f"error: {server.url}/functions/master/catalog.json: cannot connect" in result.err
