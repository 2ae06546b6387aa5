"""Where a hub lives, the URLs of its files, and reading them.

The layout is MLRun's (``mlrun.common.schemas.hub.HubSource.get_full_uri``
and ``extend_hub_uri_if_needed``), as written by the hub build of the
``mlrun/functions`` repository::

    ROOT/functions/CHANNEL/catalog.json
    ROOT/functions/CHANNEL/DIRECTORY/TAG/src/function.yaml

ROOT is MLRun's ``hub.default_source.url`` (``https://mlrun.github.io/marketplace``),
CHANNEL its ``hub.default_source.channel`` (``master``), DIRECTORY the item
name with underscores and TAG ``latest`` or a version. A private mirror or
a local directory in the same layout replaces the public hub.

This module reads bytes and turns transport failures into mlctl errors; it
never parses what it read, never caches and never prints (progress goes to
the ``Reporter`` the caller hands in).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib import parse as urlparse

from mlctl import errors

if TYPE_CHECKING:
    import urllib3

    from mlctl.hub import report

DEFAULT_URL = "https://mlrun.github.io/marketplace"
DEFAULT_CHANNEL = "master"
OBJECT_TYPE = "functions"  # MLRun's hub.default_source.object_type
CATALOG = "catalog.json"
ITEM_FILE = "src/function.yaml"
DEFAULT_TIMEOUT = 30.0
_CHUNK = 64 * 1024


class HubError(errors.HubError):
    """The hub answered with an error or with something that is not what was asked for.

    Exit code 8 (``ExitCode.HUB``): the reference the user wrote may be
    fine; the remote end failed.
    """


class Unreachable(HubError):
    """No usable answer (refused, unresolvable, timed out, 5xx, cut short).

    These are the failures a cached copy may stand in for.
    """


class Missing(errors.InvalidInput):
    """The hub has no such file (HTTP 404, or absent from a local hub).

    Exit code 3: like a spec path that does not exist, the reference names
    nothing, and asking again will not change that.
    """


@dataclass(frozen=True)
class Source:
    """One hub: its root URL (``http(s)://`` or ``file://``) and channel."""

    root: str
    channel: str = DEFAULT_CHANNEL

    @property
    def is_local(self) -> bool:
        return self.root.startswith("file:")

    @property
    def key(self) -> str:
        """A short stable name for this hub and channel (its folder in the cache)."""
        return hashlib.sha256(f"{self.root}\n{self.channel}".encode()).hexdigest()[:16]

    def relative(self, path: str) -> str:
        """The path below the hub root of a file of this channel, as MLRun composes it."""
        return f"{OBJECT_TYPE}/{self.channel}/{path}"

    def url(self, relative: str) -> str:
        """The URL of a path below the hub root (``catalog_path()``, ``item_path()``)."""
        return f"{self.root}/{relative}"

    def catalog_path(self) -> str:
        return self.relative(CATALOG)

    def item_path(self, directory: str, tag: str) -> str:
        return self.relative(f"{directory}/{tag}/{ITEM_FILE}")

    def label(self, relative: str) -> str:
        """What error messages name as the file: the URL, or the path of a local hub."""
        url = self.url(relative)
        return str(local_path(url)) if self.is_local else url


def parse(root: str | None = None, channel: str | None = None) -> Source:
    """A ``Source`` from a URL or a local directory ('' or None: the public MLRun hub)."""
    text = (root or "").strip() or DEFAULT_URL
    channel = (channel or "").strip() or DEFAULT_CHANNEL
    if "/" in channel or channel in (".", ".."):
        raise errors.InvalidInput(f"hub channel '{channel}': a channel is one path segment, e.g. 'master'")
    if "{name}" in text or "{tag}" in text:
        # MLRun before 1.5 took a template here (MLRUN_HUB_URL=.../{tag}/{name}/function.yaml);
        # an old environment may still set it
        raise errors.InvalidInput(
            f"hub URL '{text}' is MLRun's old template form; mlctl needs the hub's root, e.g. {DEFAULT_URL}"
        )
    scheme = urlparse.urlsplit(text).scheme.lower()
    if scheme in ("http", "https"):
        if not urlparse.urlsplit(text).netloc:
            raise errors.InvalidInput(f"hub URL '{text}': no host")
        return Source(text.rstrip("/"), channel)
    if scheme == "file":
        return Source(local_path(text).as_uri(), channel)
    if len(scheme) > 1:  # a one-letter "scheme" is a Windows drive
        raise errors.InvalidInput(
            f"hub URL '{text}': '{scheme}://' is not supported (use http://, https://, file:// or a directory)"
        )
    # a plain path: a local hub directory
    return Source(Path(text).expanduser().resolve().as_uri(), channel)


def local_path(url: str) -> Path:
    from urllib.request import url2pathname

    parts = urlparse.urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise errors.InvalidInput(f"hub URL '{url}': file:// URLs on another host are not supported")
    return Path(url2pathname(parts.path)).resolve()


def read(source: Source, relative: str, *, timeout: float, reporter: report.Reporter) -> bytes:
    """The bytes of one hub file, complete, or an mlctl error naming the URL."""
    url = source.url(relative)
    if source.is_local:
        return _read_local(source, url)
    return _read_http(url, timeout, reporter)


def _read_local(source: Source, url: str) -> bytes:
    path = local_path(url)
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        root = local_path(source.root)
        if not root.is_dir():
            raise Missing(f"{path}: not found (the hub directory {root} does not exist)") from None
        raise Missing(f"{path}: not found in the hub at {root}") from None
    except OSError as exc:
        raise HubError(f"{path}: cannot read ({exc.strerror})") from None


def _read_http(url: str, timeout: float, reporter: report.Reporter) -> bytes:
    # Imported here: only a command that reaches a hub pays for the HTTP stack's import.
    import os

    import urllib3

    from mlctl import __version__
    from mlctl.cluster import transport

    proxy = transport.proxy_for(url, "", os.environ)
    # urllib3's timeout bounds each socket operation; the deadline bounds the
    # whole transfer, so a server that trickles bytes cannot hold us forever.
    deadline = time.monotonic() + timeout
    # no retries (a failure is reported at once), redirects followed as a browser would
    retries = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=10)
    pool = urllib3.ProxyManager(proxy) if proxy else urllib3.PoolManager()
    # started before connecting: a slow server should show as waiting, not as nothing
    reporter.download_started(url, None)
    try:
        response = pool.request(
            "GET",
            url,
            headers={"User-Agent": f"mlctl/{__version__}"},
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=retries,
            preload_content=False,
        )
        try:
            if response.status >= 400:
                raise _http_error(url, response.status, response.reason or "")
            body = _read_body(
                response, url, _content_length(response.headers.get("Content-Length")), deadline, reporter
            )
        finally:
            response.release_conn()
    except (urllib3.exceptions.HTTPError, TimeoutError, OSError) as exc:
        raise _transport_error(url, timeout, exc) from None
    finally:
        reporter.download_finished(url)
        pool.clear()
    return body


def _transport_error(url: str, timeout: float, exc: BaseException) -> errors.MlctlError:
    import urllib3

    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    # before timeouts: urllib3's NewConnectionError is a kind of ConnectTimeoutError
    if isinstance(exc, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ProxyError):
        return Unreachable(f"{url}: cannot connect ({_reason(exc.__context__ or exc)})")
    if isinstance(exc, urllib3.exceptions.TimeoutError | TimeoutError):
        return Unreachable(f"{url}: no answer within {timeout:g} s")
    short = [a for a in (exc, *exc.args) if isinstance(a, urllib3.exceptions.IncompleteRead)]
    if short:
        got, missing = short[0].partial, short[0].expected  # urllib3's "expected" is what is still missing
        return Unreachable(f"{url}: the response was cut short ({got} of {got + missing} bytes)")
    return Unreachable(f"{url}: connection failed ({_reason(exc)})")


def _read_body(
    response: urllib3.BaseHTTPResponse,
    url: str,
    total: int | None,
    deadline: float,
    reporter: report.Reporter,
) -> bytes:
    chunks: list[bytes] = []
    done = 0
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError
        chunk = response.read(_CHUNK)
        if not chunk:
            break
        chunks.append(chunk)
        done += len(chunk)
        reporter.download_progress(url, done, total)
    if total is not None and done != total:
        # a short body must never reach the cache
        raise Unreachable(f"{url}: the response was cut short ({done} of {total} bytes)")
    return b"".join(chunks)


def _content_length(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _http_error(url: str, code: int, reason: str) -> errors.MlctlError:
    if code in (404, 410):
        return Missing(f"{url}: not found (HTTP {code})")
    if code >= 500 or code in (408, 429):
        return Unreachable(f"{url}: the hub failed (HTTP {code} {reason})")
    if code in (401, 403):
        return HubError(f"{url}: access denied (HTTP {code} {reason}); mlctl reads public hubs only")
    return HubError(f"{url}: HTTP {code} {reason}")


def _reason(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__
