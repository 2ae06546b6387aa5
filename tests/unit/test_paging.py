"""Long listings are read page by page, and ``runs list`` shows each page as it comes.

A stand-in for the API server answers the requests mlctl's own client sends
(its transport's connection pool is replaced; nothing leaves the process):
list requests honour ``limit``, ``continue`` and label selectors as the API
server does, and a continue token can be made to expire (410 Gone, reason
Expired), as it does once etcd has compacted the listing's revision.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from mlctl import errors
from mlctl.cli import output
from mlctl.cluster import client, transport
from mlctl.kube import kinds, labels
from tests.unit.render_support import by_kind, render, spec_of


class _Response:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.data = json.dumps(body).encode()
        self.reason = {200: "OK", 404: "Not Found", 410: "Gone"}.get(status, "")

    def release_conn(self) -> None:
        pass


class ApiServer:
    """Serves lists of the objects it holds, by path, page by page; records every request."""

    def __init__(self) -> None:
        self.objects: dict[str, list[dict[str, Any]]] = {}  # by list path
        self.requests: list[tuple[str, dict[str, str]]] = []  # (path, query)
        self.expire: Callable[[str, str], bool] = lambda path, token: False
        self.on_request: Callable[[str, dict[str, str]], None] = lambda path, query: None

    def hold(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        api_version, kind = obj["apiVersion"], obj["kind"]
        for namespace in (meta["namespace"], None):
            self.objects.setdefault(client.Cluster.path(api_version, kind, namespace), []).append(obj)

    def request(self, method: str, url: str, **_: Any) -> _Response:
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.requests.append((parts.path, query))
        self.on_request(parts.path, query)
        if parts.path not in self.objects:
            return _Response(404, {"kind": "Status", "message": "the server could not find the requested resource"})
        token = query.get("continue", "")
        if token and self.expire(parts.path, token):
            message = "The provided continue parameter is too old to display a consistent list result."
            return _Response(410, {"kind": "Status", "reason": "Expired", "code": 410, "message": message})
        listed = [o for o in self.objects[parts.path] if _selected(o, query.get("labelSelector", ""))]
        start = int(token or 0)
        limit = int(query.get("limit", 0)) or len(listed)
        end = start + limit
        meta = {"resourceVersion": "7"}
        if end < len(listed):
            meta["continue"] = str(end)
        items = [{k: v for k, v in o.items() if k not in ("apiVersion", "kind")} for o in listed[start:end]]
        return _Response(200, {"kind": "List", "metadata": meta, "items": items})

    def cluster(self) -> client.Cluster:
        link = transport.Transport("https://api.test", lambda cert: self, lambda: ({}, None, float("inf")))  # type: ignore[arg-type,return-value]
        return client.Cluster(transport=link, namespace="ml")

    def lists(self, kind: str) -> list[dict[str, str]]:
        """The queries of the list requests for ``kind`` (any namespace), in order."""
        plural = kinds.BY_NAME[kind].plural
        return [query for path, query in self.requests if path.endswith(f"/{plural}")]


def _selected(obj: dict[str, Any], selector: str) -> bool:
    """Label selectors as the API server reads them: ``k``, ``k=v``, ``k in (a,b)``, joined by commas."""
    have = obj["metadata"].get("labels") or {}
    terms, depth, term = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and not depth:
            terms.append(term)
            term = ""
        else:
            term += char
    terms.append(term)
    for each in filter(None, terms):
        if " in (" in each:
            key, _, values = each.partition(" in (")
            if have.get(key) not in values.rstrip(")").split(","):
                return False
        elif "=" in each:
            key, _, value = each.partition("=")
            if have.get(key) != value:
                return False
        elif each not in have:
            return False
    return True


def _config_map(index: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"cm-{index:05d}", "namespace": "ml", "uid": f"uid-{index}"},
    }


@pytest.fixture()
def api() -> ApiServer:
    return ApiServer()


# --- Cluster.pages


def test_pages_follow_continue_with_the_limit_until_the_last_page(api: ApiServer) -> None:
    for index in range(1201):
        api.hold(_config_map(index))

    pages = list(api.cluster().page_by_page(*kinds.CONFIG_MAP.ref(), "ml", limit=500))

    assert [len(page) for page in pages] == [500, 500, 201]
    assert [o["metadata"]["name"] for page in pages for o in page] == [f"cm-{i:05d}" for i in range(1201)]
    assert all(o["kind"] == "ConfigMap" and o["apiVersion"] == "v1" for page in pages for o in page)
    queries = api.lists("ConfigMap")
    assert [q.get("continue") for q in queries] == [None, "500", "1000"]  # then no continue: the last page
    assert {q["limit"] for q in queries} == {"500"}


def test_a_listing_of_exactly_one_page_is_one_request(api: ApiServer) -> None:
    for index in range(500):
        api.hold(_config_map(index))

    pages = list(api.cluster().page_by_page(*kinds.CONFIG_MAP.ref(), None, label_selector="", limit=500))

    assert [len(page) for page in pages] == [500]
    assert len(api.requests) == 1
    assert api.requests[0][0] == "/api/v1/configmaps"  # no namespace: every namespace


def test_pages_are_yielded_before_the_next_is_asked_for(api: ApiServer) -> None:
    for index in range(1100):
        api.hold(_config_map(index))
    pages = api.cluster().page_by_page(*kinds.CONFIG_MAP.ref(), "ml", limit=500)

    assert len(next(pages)) == 500
    assert len(api.requests) == 1


def test_an_expired_continue_token_starts_the_listing_again_without_repeating_objects(api: ApiServer) -> None:
    for index in range(1201):
        api.hold(_config_map(index))
    expired: list[str] = []

    def once(path: str, token: str) -> bool:
        if token == "1000" and not expired:
            expired.append(token)
            return True
        return False

    api.expire = once
    names = [o["metadata"]["name"] for page in api.cluster().page_by_page(*kinds.CONFIG_MAP.ref(), "ml") for o in page]

    assert expired == ["1000"]
    assert names == [f"cm-{i:05d}" for i in range(1201)]  # each once, none lost
    assert [q.get("continue") for q in api.lists("ConfigMap")] == [None, "500", "1000", None, "500", "1000"]


def test_a_listing_that_expires_again_is_an_error_saying_so(api: ApiServer) -> None:
    for index in range(1201):
        api.hold(_config_map(index))
    api.expire = lambda path, token: True
    read: list[str] = []

    with pytest.raises(errors.ClusterError, match=r"configmaps in namespace ml .*expired twice, 410") as raised:
        for page in api.cluster().page_by_page(*kinds.CONFIG_MAP.ref(), "ml"):
            read.extend(o["metadata"]["name"] for o in page)

    assert raised.value.status == 410
    assert read == [f"cm-{i:05d}" for i in range(500)]  # the first page, once


def test_a_refused_first_page_is_not_taken_for_an_expiry(api: ApiServer) -> None:
    with pytest.raises(errors.NotFound):
        list(api.cluster().page_by_page(*kinds.CONFIG_MAP.ref(), "ml"))
    assert len(api.requests) == 1


# --- runs list


def _runs(api: ApiServer, count: int) -> list[str]:
    """``count`` job runs in namespace ml, each with a pod that succeeded; their ids."""
    job = by_kind(render(spec_of("job"), run_id="r0"), "Job")
    ids = []
    for index in range(count):
        run_id = f"r{index:05d}"
        ids.append(run_id)
        started = f"2026-01-01T{index // 3600 % 24:02d}:{index // 60 % 60:02d}:{index % 60:02d}Z"
        meta = job["metadata"]
        run_labels = {**meta["labels"], labels.RUN_ID: run_id}
        api.hold(
            {
                **job,
                "metadata": {
                    **meta,
                    "name": f"fn-{run_id}",
                    "namespace": "ml",
                    "uid": f"job-{run_id}",
                    "creationTimestamp": started,
                    "labels": run_labels,
                },
                "status": {"succeeded": 1, "completionTime": started},
            }
        )
        api.hold(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"fn-{run_id}-x",
                    "namespace": "ml",
                    "uid": f"pod-{run_id}",
                    "labels": {labels.RUN_ID: run_id, "job-name": f"fn-{run_id}"},
                    "creationTimestamp": started,
                },
                "spec": {"restartPolicy": "Never", "containers": [{"name": "main"}]},
                "status": {"phase": "Succeeded"},
            }
        )
    return ids


@pytest.fixture()
def on_cluster(api: ApiServer, monkeypatch: pytest.MonkeyPatch) -> ApiServer:
    """``mlctl`` commands reach the stand-in API server."""
    monkeypatch.setattr(client, "configured", lambda *args: True)
    monkeypatch.setattr(client, "connect", lambda *args, **kwargs: api.cluster())
    return api


def _printed_by_request(api: ApiServer, capfd: pytest.CaptureFixture[str]) -> list[tuple[str, dict[str, str], str]]:
    """For each request the stand-in answers: its path, its query, and what stdout held when it was sent."""
    seen: list[tuple[str, dict[str, str], str]] = []
    printed: list[str] = []

    def note(path: str, query: dict[str, str]) -> None:
        printed.append(capfd.readouterr().out)
        seen.append((path, query, "".join(printed)))

    api.on_request = note
    return seen


def test_runs_list_prints_the_first_page_before_the_second_is_asked_for(
    on_cluster: ApiServer, capfd: pytest.CaptureFixture[str]
) -> None:
    from mlctl.cli import main

    ids = _runs(on_cluster, 1100)
    seen = _printed_by_request(on_cluster, capfd)

    assert main.invoke(["runs", "list"]) == 0
    jobs = [(query, printed) for path, query, printed in seen if path == "/apis/batch/v1/namespaces/ml/jobs"]
    assert [query.get("continue") for query, _ in jobs] == [None, "500", "1000"]
    shown_before_second = jobs[1][1].splitlines()
    assert shown_before_second[0].split()[:3] == ["RUN", "ID", "FUNCTION"]
    assert len(shown_before_second) == 1 + 500  # the headers and the first page
    pods = [query for path, query, _ in seen if path == "/api/v1/namespaces/ml/pods"]
    assert len(pods) == 3  # one per page, for that page's runs only
    assert all(query["labelSelector"].startswith(f"{labels.RUN_ID} in (") for query in pods)
    rows = (seen[-1][2] + capfd.readouterr().out).splitlines()[1:]
    assert sorted(row.split()[0] for row in rows) == ids
    assert all(row.split()[4] == "completed" for row in rows)  # each run with its pod
    first_page = [row.split()[0] for row in shown_before_second[1:]]
    assert first_page == sorted(first_page, reverse=True)  # newest first, within the page


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_runs_list_streams_json_and_yaml_as_one_document_equal_to_the_whole_list_written_at_once(
    on_cluster: ApiServer, capfd: pytest.CaptureFixture[str], fmt: str
) -> None:
    from mlctl.cli import main

    ids = _runs(on_cluster, 1100)
    seen = _printed_by_request(on_cluster, capfd)

    assert main.invoke(["runs", "list", "-o", fmt]) == 0
    last_page = next(printed for path, query, printed in seen if query.get("continue") == "1000")
    assert last_page.startswith("[\n  {\n" if fmt == "json" else "- ")  # the first runs came before the last page
    text = "".join(printed for *_, printed in seen[-1:]) + capfd.readouterr().out
    listed = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    assert sorted(r["run_id"] for r in listed) == ids
    output.emit(listed, fmt)
    assert capfd.readouterr().out == text  # the same text, byte for byte


def test_streamed_output_of_no_items_is_an_empty_list(capfd: pytest.CaptureFixture[str]) -> None:
    for fmt in ("json", "yaml"):
        output.emit_pages(iter([]), fmt)
        streamed = capfd.readouterr().out
        output.emit([], fmt)
        assert streamed == capfd.readouterr().out


def _pages(*pages: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    yield from pages


def test_streamed_json_is_byte_for_byte_the_whole_list(capfd: pytest.CaptureFixture[str]) -> None:
    items = [{"a": 1, "b": [], "c": {}, "d": {"e": [1, {"f": "x\ny"}]}}, {}, {"g": float("nan")}]
    output.emit_pages(_pages(items[:2], [], items[2:]), "json")
    streamed = capfd.readouterr().out
    output.emit(items, "json")
    assert streamed == capfd.readouterr().out


# --- many specs at once


def test_loading_many_specs_builds_one_validator_and_validates_each_spec_once(
    spec_file: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import jsonschema

    from mlctl import config as config_
    from mlctl import pipeline
    from mlctl.spec import validate

    real = jsonschema.Draft202012Validator
    built: list[Any] = []
    validated: list[Any] = []

    class Counted:
        def __init__(self, schema: Any) -> None:
            built.append(schema)
            self.validator = real(schema)

        def iter_errors(self, instance: Any) -> Any:
            validated.append(instance)
            return self.validator.iter_errors(instance)

    monkeypatch.setattr(jsonschema, "Draft202012Validator", Counted)
    validate._validator.cache_clear()
    try:
        files = [
            spec_file(yaml.safe_dump(spec_of("job", name=f"fn-{i}", project="many", extra_key=i)), f"f{i}.yaml")
            for i in range(20)
        ]
        loaded = [pipeline.load(str(path), config_.resolve({}, [])) for path in files]
    finally:
        validate._validator.cache_clear()  # the next test gets a real validator

    assert len(built) == 1
    assert len(validated) == len(files)
    assert all("extra_key" not in each.function.spec for each in loaded)  # unknown keys stay out of the model
    assert all(any("extra_key" in w.message for w in each.warnings) for each in loaded)
