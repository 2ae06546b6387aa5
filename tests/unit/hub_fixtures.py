"""A function hub in MLRun's layout, built from the corpus, served on 127.0.0.1.

The corpus (``../shared/corpus/mlrun-hub``) holds every version of every
``function.yaml`` of the public hub, named ``<function>__<blob hash>.yaml``
without version numbers. The hub built here numbers each function's files
``1.0.0``, ``1.1.0`` ... in file-name order and makes the last one
``latest``, then writes what the ``mlrun/functions`` hub build writes::

    ROOT/functions/master/catalog.json
    ROOT/functions/master/<function>/<version|latest>/src/function.yaml
    ROOT/functions/master/<function>/<version|latest>/src/item.yaml

``HubServer`` serves a root over HTTP on a free port of 127.0.0.1, and can
be switched to answer like a broken hub (404, 500, garbage, a hang, a cut
body) or stopped, to stand for a hub that is gone.
"""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.unit import support

CORPUS = support.CORPUS
CHANNEL = "master"
# git merge conflict markers: not YAML; kept out of the built hub
CONFLICTED = "rnn_serving__b7b630e4a8.yaml"

GARBAGE = {
    "garbage-html": b"<html><body><h1>Sign in to the guest Wi-Fi</h1></body></html>\n",
    "garbage-yaml": b"kind: job\nspec: {image: [unclosed\n",
    "garbage-binary": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",
}
MODES = ("ok", "404", "500", "hang", "truncated", *GARBAGE)


@dataclass(frozen=True)
class BuiltHub:
    root: Path
    versions: dict[str, list[str]]  # directory -> versions, oldest first; the last is latest
    files: dict[tuple[str, str], Path]  # (directory, version or "latest") -> corpus file
    kinds: dict[str, str]  # directory -> kind of its latest spec
    categories: dict[str, list[str]]  # directory -> categories of its latest spec

    def latest_version(self, directory: str) -> str:
        return self.versions[directory][-1]

    def corpus_file(self, directory: str, tag: str = "latest") -> Path:
        return self.files[(directory, tag)]

    def of_kind(self, kind: str) -> str:
        return sorted(d for d, k in self.kinds.items() if k == kind)[0]


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return data


def _item(spec: dict[str, Any], version: str) -> dict[str, Any]:
    """The item.yaml the hub build would have written for this spec."""
    meta = spec.get("metadata") or {}
    body = spec.get("spec") or {}
    return {
        "apiVersion": "v1",
        "name": meta.get("name", ""),
        "version": version,
        "categories": list(meta.get("categories") or []),
        "description": body.get("description") or "",
        "labels": dict(meta.get("labels") or {}),
        "hidden": False,
        "spec": {
            "kind": spec.get("kind", "job"),
            "image": body.get("image") or "",
            "handler": body.get("default_handler") or "",
        },
    }


def build(root: Path, corpus_files: list[Path] | None = None) -> BuiltHub:
    """Write a hub in MLRun's layout under ``root`` from corpus files (default: all but the conflicted one)."""
    paths = (
        corpus_files if corpus_files is not None else [p for p in sorted(CORPUS.glob("*.yaml")) if p.name != CONFLICTED]
    )
    groups: dict[str, list[Path]] = defaultdict(list)
    for path in paths:
        groups[path.name.split("__")[0]].append(path)
    channel_dir = root / "functions" / CHANNEL
    catalog: dict[str, dict[str, Any]] = {}
    versions: dict[str, list[str]] = {}
    files: dict[tuple[str, str], Path] = {}
    kinds: dict[str, str] = {}
    categories: dict[str, list[str]] = {}
    for directory, group in sorted(groups.items()):
        catalog[directory] = {}
        versions[directory] = []
        for index, path in enumerate(group):
            version = f"1.{index}.0"
            is_latest = index == len(group) - 1
            try:
                spec = _load(path)
            except Exception:  # a file that is not YAML still gets served, as is
                spec = {}
            item = _item(spec, version)
            for tag in (version, "latest") if is_latest else (version,):
                src = channel_dir / directory / tag / "src"
                src.mkdir(parents=True)
                shutil.copyfile(path, src / "function.yaml")
                (src / "item.yaml").write_text(json.dumps(item, indent=2), encoding="utf-8")
                catalog[directory][tag] = item
                files[(directory, tag)] = path
            versions[directory].append(version)
            if is_latest:
                kinds[directory] = str(spec.get("kind", "job"))
                categories[directory] = list(item["categories"])
    channel_dir.mkdir(parents=True, exist_ok=True)
    (channel_dir / "catalog.json").write_text(json.dumps(catalog), encoding="utf-8")
    return BuiltHub(root, versions, files, kinds, categories)


@dataclass
class HubServer:
    """An HTTP server for one hub root on 127.0.0.1; ``mode`` picks how it answers."""

    root: Path
    mode: str = "ok"
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._release = threading.Event()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        # a short poll keeps stop() quick: shutdown waits for the loop to look
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()
        self.running = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        """Close the port: from now on a connection is refused, as with no network."""
        if self.running:
            self._release.set()
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self.running = False


def _handler(server: HubServer) -> type[http.server.SimpleHTTPRequestHandler]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(server.root), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

        def do_GET(self) -> None:
            server.requests.append(self.path)
            mode = server.mode
            if mode == "ok":
                super().do_GET()
            elif mode in ("404", "500"):
                self.send_error(int(mode))
            elif mode in GARBAGE:
                self._send(GARBAGE[mode])
            elif mode == "hang":
                server._release.wait(30)
            elif mode == "truncated":
                body = Path(self.translate_path(self.path)).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
            else:
                raise AssertionError(f"unknown mode {mode}")

        def _send(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
