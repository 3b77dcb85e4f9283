"""What needs no hub: answers read tolerantly, the warning for a token in
clear, Hub.from_env, and a server that is not a hub (a redirect is not
followed, so the token does not travel to where it points; a page that is
not a Gantry error is said to be one)."""

from __future__ import annotations

import http.server
import os
import threading
import unittest
from unittest import mock

from gantry_client import Hub, HubError, Node, Output, Task


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every GET with the server's ``answer``; records the
    Authorization header each request carried."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.seen.append(self.headers.get("Authorization"))
        status, headers, body = self.server.answer
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def serve(answer: tuple[int, dict[str, str], bytes]) -> http.server.HTTPServer:
    """A server on 127.0.0.1 giving ``answer`` (status, headers, body) to every GET."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    server.answer = answer
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server

#: A task as the hub sends it, with a field no version of the client knows.
TASK = {
    "id": "t1",
    "name": "train",
    "state": "succeeded",
    "spec": {"command": ["true"]},
    "created_at": 1,
    "updated_at": 2,
    "log_size": 3,
    "outputs": [{"path": "out/a", "size": 1, "sha256": "0" * 64, "stored": "hub", "new": 1}],
    "history": [{"state": "queued", "at": 1}, {"state": "succeeded", "at": 2, "reason": "ok"}],
    "pull_progress": {"done": 1, "total": 2},
    "a_field_added_later": {"x": 1},
}


class Types(unittest.TestCase):
    def test_unknown_fields_are_ignored_and_nested_ones_built(self) -> None:
        task = Task.from_json(TASK)
        self.assertEqual(task.id, "t1")
        self.assertTrue(task.done)
        self.assertEqual(task.outputs[0].stored, "hub")
        self.assertEqual([step.state for step in task.history], ["queued", "succeeded"])
        self.assertEqual(task.history[1].reason, "ok")
        self.assertEqual(task.pull_progress.total, 2)
        self.assertIsNone(task.exit_code)
        self.assertFalse(hasattr(task, "a_field_added_later"))

    def test_absent_optional_fields_take_defaults(self) -> None:
        node = Node.from_json(
            {"id": "n", "name": "box", "labels": ["gpu"], "online": True, "tasks_held": 0}
        )
        self.assertEqual(node.running, [])
        self.assertIsNone(node.system)
        output = Output.from_json({"path": "a", "size": 1, "sha256": "0" * 64, "where": "node"})
        self.assertIsNone(output.node)

    def test_a_token_in_clear_to_another_host_is_warned_of(self) -> None:
        with self.assertWarns(UserWarning) as caught:
            Hub("http://hub.example:8750", "t")
        self.assertIn("in clear", str(caught.warning))
        with mock.patch("warnings.warn") as warn:
            Hub("http://127.0.0.1:8750", "t")
            Hub("https://hub.example:8750", "t")
        warn.assert_not_called()

    def test_from_env_reads_what_gantry_task_reads(self) -> None:
        env = {"GANTRY_SERVER": "https://hub.example:8750/", "GANTRY_ADMIN_TOKEN": "t"}
        with mock.patch.dict(os.environ, env, clear=True):
            self.assertEqual(Hub.from_env().url, "https://hub.example:8750")
        with mock.patch.dict(os.environ, {"GANTRY_ADMIN_TOKEN": "t"}, clear=True):
            self.assertEqual(Hub.from_env().url, "http://127.0.0.1:8750")
        with mock.patch.dict(os.environ, {}, clear=True):
            with self.assertRaises(ValueError) as caught:
                Hub.from_env()
            self.assertIn("GANTRY_ADMIN_TOKEN", str(caught.exception))


class NotAHub(unittest.TestCase):
    def test_a_redirect_is_not_followed_with_the_token(self) -> None:
        elsewhere = serve((200, {"Content-Type": "application/json"}, b'{"tasks": []}'))
        self.addCleanup(elsewhere.shutdown)
        moved = f"http://127.0.0.1:{elsewhere.server_port}/v1/tasks"
        redirecting = serve((302, {"Location": moved}, b""))
        self.addCleanup(redirecting.shutdown)
        hub = Hub(f"http://127.0.0.1:{redirecting.server_port}", "secret-token")
        with self.assertRaises(HubError) as caught:
            hub.list()
        self.assertEqual(caught.exception.status, 302)
        self.assertEqual(caught.exception.code, "http_error")
        self.assertIn(moved, caught.exception.message)
        self.assertEqual(redirecting.seen, ["Bearer secret-token"])
        self.assertEqual(elsewhere.seen, [])

    def test_a_page_that_is_not_a_gantry_error_is_said_to_be_one(self) -> None:
        page = serve((502, {"Content-Type": "text/html"}, b"<h1>Bad Gateway</h1>"))
        self.addCleanup(page.shutdown)
        with self.assertRaises(HubError) as caught:
            Hub(f"http://127.0.0.1:{page.server_port}", "t").nodes()
        self.assertEqual(caught.exception.status, 502)
        self.assertEqual(caught.exception.code, "http_error")
        self.assertIn("Bad Gateway", caught.exception.message)
        self.assertIn("is this a Gantry hub?", caught.exception.message)


if __name__ == "__main__":
    unittest.main()
