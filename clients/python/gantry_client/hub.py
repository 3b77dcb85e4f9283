"""`Hub`: a client of one Gantry hub, with one admin token.

It speaks the hub's ``/v1`` API with the standard library alone
(``urllib.request``, ``ssl``, ``json``), so ``pip install`` brings nothing
else and importing the package touches no network. Every request goes
through one of the routes of :mod:`gantry_client.routes`; the token is sent
in one place (:meth:`Hub._open`, as ``Authorization: Bearer``), never in a
URL, and redirects are not followed, so it cannot be carried to another
host. ``repr(hub)`` shows the address only.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from . import routes
from .errors import DownloadError, HubError, UnreachableError
from .routes import Route
from .types import BlobStored, Node, NodeList, Output, OutputList, Task, TaskList

#: How long a plain call may wait on the hub, in seconds.
CALL_TIMEOUT = 30.0
#: How long a download may wait for its next bytes (a node-kept output comes
#: from its node through the hub).
TRANSFER_TIMEOUT = 120.0
#: Bytes read or written at a time.
CHUNK = 1 << 20
#: The prefixes of an ``inputs`` key that names a file on the submitter's disk.
LOCAL_INPUT_PREFIXES = ("./", "../", "/", "~/")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuses redirects: the token must go to the address it was given for."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        return None


class Hub:
    """A client of the hub at ``url`` (``https://hub.example:8750``) with an admin token.

    ``ca_file`` is a PEM file of the CA that signed the hub's certificate,
    for a hub whose certificate the system does not trust.
    """

    def __init__(self, url: str, token: str, ca_file: str | os.PathLike[str] | None = None):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(
                f"the hub's address {url!r} is not a URL: give it with its scheme, "
                "e.g. http://127.0.0.1:8750 or https://hub.example:8750"
            )
        if not token or not token.strip():
            raise ValueError(
                "no admin token: pass one (create it with: gantry hub token create --admin NAME)"
            )
        self.url = url.rstrip("/")
        self._token = token.strip()
        context = ssl.create_default_context(cafile=os.fspath(ca_file) if ca_file else None)
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context), _NoRedirect()
        )
        self._opener.addheaders = [("User-Agent", "gantry-client-python")]
        if parsed.scheme == "http" and parsed.hostname not in ("localhost", "127.0.0.1", "::1"):
            warnings.warn(
                f"the admin token goes in clear to {self.url}: anyone on the network between "
                "can read it; use https:// unless this network is trusted",
                stacklevel=2,
            )

    @classmethod
    def from_env(cls) -> Hub:
        """The hub ``gantry task`` would use: ``GANTRY_SERVER`` (default
        ``http://127.0.0.1:8750``), ``GANTRY_ADMIN_TOKEN`` and ``GANTRY_CA_FILE``."""
        token = os.environ.get("GANTRY_ADMIN_TOKEN", "")
        if not token.strip():
            raise ValueError(
                "GANTRY_ADMIN_TOKEN is not set: set it to an admin token "
                "(create one with: gantry hub token create --admin NAME)"
            )
        return cls(
            os.environ.get("GANTRY_SERVER") or "http://127.0.0.1:8750",
            token,
            os.environ.get("GANTRY_CA_FILE") or None,
        )

    def __repr__(self) -> str:
        return f"Hub({self.url!r})"

    # ---- tasks ----

    def submit(self, job: dict[str, Any] | str | os.PathLike[str]) -> str:
        """Submits a job, a dict of a job file's keys or the path of a job
        file (YAML, or JSON when it ends in ``.json``); returns the task's id.

        Inputs must name blobs on the hub (see :meth:`put_blob`); a local path
        among them is refused here, as the hub would refuse it.
        """
        if isinstance(job, dict):
            _refuse_local_inputs(job)
            body = json.dumps(job).encode()
            kind = "application/json"
        else:
            path = Path(job)
            try:
                body = path.read_bytes()
            except OSError as error:
                raise OSError(f"cannot read the job file {path}: {error.strerror}") from error
            kind = "application/json" if path.suffix == ".json" else "application/yaml"
        answer = self._json(routes.SUBMIT, body=body, headers={"Content-Type": kind})
        return answer["id"]

    def get(self, task_id: str) -> Task:
        """The task with its history."""
        return self._json(routes.SHOW_TASK, {"id": task_id})

    def list(
        self,
        *,
        state: str | None = None,
        node: str | None = None,
        label: str | None = None,
        name: str | None = None,
        before: str | None = None,
        limit: int | None = None,
    ) -> TaskList:
        """One page of tasks, newest first, filtered as ``GET /v1/tasks`` filters
        them; pass the page's ``next`` as ``before`` for the page after it."""
        query = {"state": state, "node": node, "label": label, "name": name}
        query |= {"before": before, "limit": limit}
        return self._json(routes.LIST_TASKS, query=query)

    def list_all(self, *, page_size: int = 100, **filters: Any) -> Iterator[Task]:
        """Every task the filters of :meth:`list` match, newest first, page by page."""
        before = None
        while True:
            page = self.list(before=before, limit=page_size, **filters)
            yield from page.tasks
            if page.next is None or not page.tasks:
                return
            before = page.next

    def wait(self, task_id: str, timeout: float | None = None) -> Task:
        """Waits for the task to end and returns it; ``TimeoutError`` after
        ``timeout`` seconds. Following its log is the wait: the hub ends that
        stream when the task ends, and it is read from the end the hub holds,
        so a long log is not fetched to wait for it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        offset = 0
        while True:
            task = self.get(task_id)
            if task.done:
                return task
            offset = max(offset, task.log_size)
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"task {task_id} is still {task.state} after {timeout} s")
            try:
                with self._log(task_id, offset, follow=True, timeout=left) as stream:
                    while chunk := stream.read1(CHUNK):
                        offset += len(chunk)
                        if deadline is not None and time.monotonic() >= deadline:
                            break
            except TimeoutError:
                pass
            except UnreachableError:
                if deadline is None or time.monotonic() < deadline:
                    raise
            time.sleep(0.2)

    def logs(self, task_id: str) -> str:
        """The task's whole log so far, as text."""
        with self._log(task_id, 0, follow=False, timeout=CALL_TIMEOUT) as stream:
            return stream.read().decode("utf-8", errors="replace")

    def follow(self, task_id: str) -> Iterator[str]:
        """The task's log line by line (without the newline) as it is written,
        from its start until the task ends."""
        offset = 0
        pending = b""
        while True:
            with self._log(task_id, offset, follow=True, timeout=None) as stream:
                while chunk := stream.read1(CHUNK):
                    offset += len(chunk)
                    *lines, pending = (pending + chunk).split(b"\n")
                    for line in lines:
                        yield line.decode("utf-8", errors="replace")
            if self.get(task_id).done:
                break
            time.sleep(0.2)
        # The last bytes may have come after the stream ended.
        with self._log(task_id, offset, follow=False, timeout=CALL_TIMEOUT) as stream:
            *lines, pending = (pending + stream.read()).split(b"\n")
        for line in lines:
            yield line.decode("utf-8", errors="replace")
        if pending:
            yield pending.decode("utf-8", errors="replace")

    def cancel(self, task_id: str) -> Task:
        """Cancels the task; its node stops it (``pending_command`` says so until it has)."""
        return self._json(routes.CANCEL, {"id": task_id})

    def pause(self, task_id: str) -> Task:
        """Pauses a running task: its container is frozen, keeping its memory."""
        return self._json(routes.PAUSE, {"id": task_id})

    def resume(self, task_id: str) -> Task:
        """Resumes a paused task."""
        return self._json(routes.RESUME, {"id": task_id})

    def nodes(self) -> list[Node]:
        """Every node with its last system report."""
        answer: NodeList = self._json(routes.LIST_NODES)
        return answer.nodes

    # ---- data in and out ----

    def put_blob(self, data: bytes | str | os.PathLike[str]) -> BlobStored:
        """Uploads bytes, or a file streamed from disk, to the hub's blobs,
        unless the hub holds them already. A job names the blob in its
        ``inputs`` by the returned ``sha256``."""
        if isinstance(data, bytes):
            sha256, size = hashlib.sha256(data).hexdigest(), len(data)
        else:
            sha256, size = _hash_file(Path(data))
        try:
            with self._open(routes.HAS_BLOB, {"sha256": sha256}, timeout=CALL_TIMEOUT):
                return BlobStored(sha256=sha256, size=size)
        except HubError as error:
            if error.status != 404:
                raise
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        if isinstance(data, bytes):
            return self._json(routes.PUT_BLOB, {"sha256": sha256}, body=data, headers=headers)
        with open(data, "rb") as file:
            return self._json(
                routes.PUT_BLOB,
                {"sha256": sha256},
                body=file,
                headers=headers,
                timeout=TRANSFER_TIMEOUT,
            )

    def outputs(self, task_id: str) -> list[Output]:
        """The task's outputs, with where each is kept (the hub, or a node)."""
        answer: OutputList = self._json(routes.LIST_OUTPUTS, {"id": task_id})
        return answer.outputs

    def download(self, task_id: str, name: str, dest: str | os.PathLike[str]) -> Path:
        """Downloads the output ``name`` (its path as :meth:`outputs` lists it)
        to ``dest``, or into it under that path when ``dest`` is a folder (one
        that exists, or a path ending in ``/``), and verifies it by sha256;
        returns where it went. An output kept on a node comes from that node
        through the hub."""
        listed = self.outputs(task_id)
        match = next((output for output in listed if output.path == name), None)
        if match is None:
            have = ", ".join(output.path for output in listed) or "none yet"
            raise DownloadError(f"task {task_id} has no output {name!r} (its outputs: {have})")
        target = Path(dest)
        if target.is_dir() or os.fspath(dest).endswith(("/", os.sep)):
            parts = Path(name).parts
            if Path(name).is_absolute() or ".." in parts:
                raise DownloadError(f"output {name!r} would be written outside {target}; refused")
            target = target.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        digest = hashlib.sha256()
        params = {"id": task_id, "path": name}
        try:
            with self._open(routes.GET_OUTPUT, params, timeout=TRANSFER_TIMEOUT) as stream:
                with open(partial, "wb") as file:
                    while chunk := stream.read1(CHUNK):
                        digest.update(chunk)
                        file.write(chunk)
        except (OSError, UnreachableError) as error:
            partial.unlink(missing_ok=True)
            raise DownloadError(f"the download of {name} broke off: {error}") from error
        if digest.hexdigest() != match.sha256:
            partial.unlink(missing_ok=True)
            raise DownloadError(
                f"{name} came with sha256 {digest.hexdigest()}, not {match.sha256} "
                "as the hub lists it; nothing was kept"
            )
        partial.replace(target)
        return target

    # ---- the wire ----

    def _log(self, task_id: str, offset: int, *, follow: bool, timeout: float | None):
        query = {"offset": offset, "follow": "true" if follow else "false"}
        return self._open(routes.READ_LOG, {"id": task_id}, query, timeout=timeout)

    def _json(
        self,
        route: Route,
        params: dict[str, str] | None = None,
        query: dict[str, Any] | None = None,
        body: bytes | BinaryIO | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = CALL_TIMEOUT,
    ) -> Any:
        """Calls ``route`` and reads its JSON answer, as its ``answer`` class when it has one."""
        with self._open(route, params, query, body, headers, timeout) as response:
            try:
                data = json.loads(response.read())
            except ValueError as error:
                raise HubError(
                    response.status,
                    "http_error",
                    f"the server at {self.url} answered {route.method} {route.path} "
                    "with something other than JSON; is this a Gantry hub?",
                ) from error
        return route.answer.from_json(data) if route.answer else data

    def _open(
        self,
        route: Route,
        params: dict[str, str] | None = None,
        query: dict[str, Any] | None = None,
        body: bytes | BinaryIO | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = CALL_TIMEOUT,
    ):
        """Sends one request on ``route`` and returns the open response; a
        refusal is a :class:`HubError`, no answer an :class:`UnreachableError`."""
        url = self.url + _fill(route.path, params or {})
        given = {key: value for key, value in (query or {}).items() if value is not None}
        unknown = set(given) - set(route.query)
        if unknown:
            raise AssertionError(f"{route.method} {route.path} takes no {sorted(unknown)}")
        if given:
            url += "?" + urllib.parse.urlencode(given)
        request = urllib.request.Request(url, data=body, method=route.method)
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        request.add_header("Authorization", f"Bearer {self._token}")
        try:
            return self._opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as error:
            raise self._refusal(error) from None
        except urllib.error.URLError as error:
            raise UnreachableError(f"cannot reach the hub at {self.url}: {error.reason}") from None
        except (TimeoutError, ConnectionError) as error:
            raise UnreachableError(f"the hub at {self.url} did not answer: {error}") from None

    def _refusal(self, error: urllib.error.HTTPError) -> HubError:
        """The hub's code and sentence from an error answer."""
        text = error.read(4096) if error.fp else b""
        error.close()
        try:
            body = json.loads(text)
            return HubError(error.code, str(body["code"]), str(body["message"]))
        except (ValueError, KeyError, TypeError):
            pass
        if 300 <= error.code < 400:
            sentence = (
                f"the server at {self.url} answered {error.code}, a redirect to "
                f"{error.headers.get('Location')}; give the hub's own address"
            )
        else:
            said = text.decode("utf-8", errors="replace")[:200]
            sentence = f"the server at {self.url} answered {error.code}" + (
                f": {said}" if said else ""
            )
            sentence += "; is this a Gantry hub?"
        return HubError(error.code, "http_error", sentence)


def _fill(path: str, params: dict[str, str]) -> str:
    """The route's path with its parameters, each escaped so that it stays
    one segment (``path`` keeps its slashes between escaped segments)."""
    for name, value in params.items():
        if name == "path":
            text = "/".join(urllib.parse.quote(part, safe="") for part in value.split("/"))
        else:
            text = urllib.parse.quote(str(value), safe="")
        path = path.replace("{" + name + "}", text)
    return path


def _hash_file(path: Path) -> tuple[str, int]:
    """The file's sha256 and size, read a chunk at a time."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _refuse_local_inputs(job: dict[str, Any]) -> None:
    """Refuses a job whose inputs name files on this disk: the hub takes blobs only."""
    for key in job.get("inputs") or {}:
        if isinstance(key, str) and key.startswith(LOCAL_INPUT_PREFIXES):
            raise ValueError(
                f"input {key!r} is a path on this computer: upload it with Hub.put_blob "
                "and name its sha256 instead (or submit with `gantry task submit`, "
                "which uploads local inputs)"
            )

