"""Errors through the client against a real hub: the hub's code and
sentence come through as HubError; an absent hub, a bad address and a local
input are refused with a sentence saying what to fix."""

from __future__ import annotations

import socket
import tempfile
import unittest
from pathlib import Path

from client_env import hub, job, setting

from gantry_client import GantryError, Hub, HubError, UnreachableError


class Errors(unittest.TestCase):
    def setUp(self) -> None:
        self.hub = hub()

    def test_a_wrong_token_is_refused_with_the_hubs_code(self) -> None:
        wrong = "gantry-wrong-token-" + "x" * 20
        with self.assertRaises(HubError) as caught:
            Hub(setting("GANTRY_TEST_HUB_URL"), wrong).list()
        error = caught.exception
        self.assertEqual(error.status, 401)
        self.assertEqual(error.code, "unauthorized")
        self.assertIn("token", error.message)
        self.assertIsInstance(error, GantryError)
        self.assertNotIn(wrong, str(error))
        self.assertNotIn(wrong, repr(Hub(setting("GANTRY_TEST_HUB_URL"), wrong)))

    def test_an_unknown_task_is_not_found(self) -> None:
        for call in (self.hub.get, self.hub.logs, self.hub.cancel, self.hub.outputs):
            with self.assertRaises(HubError) as caught:
                call("no-such-task")
            self.assertEqual(caught.exception.status, 404, call.__name__)
            self.assertEqual(caught.exception.code, "not_found", call.__name__)
            self.assertTrue(caught.exception.message, call.__name__)

    def test_a_bad_job_is_refused_with_the_reason(self) -> None:
        spec = job("true")
        del spec["image"]
        with self.assertRaises(HubError) as caught:
            self.hub.submit(spec)
        self.assertEqual(caught.exception.status, 400)
        self.assertEqual(caught.exception.code, "invalid_job")
        self.assertIn("image", caught.exception.message)
        with tempfile.TemporaryDirectory() as folder:
            broken = Path(folder, "job.yaml")
            broken.write_text("command: [sh, -c\n")
            with self.assertRaises(HubError) as caught:
                self.hub.submit(broken)
            self.assertEqual(caught.exception.status, 400)
            self.assertTrue(caught.exception.message)
            with self.assertRaises(OSError) as missing:
                self.hub.submit(Path(folder, "absent.yaml"))
            self.assertIn("absent.yaml", str(missing.exception))

    def test_local_inputs_are_refused_before_sending(self) -> None:
        with self.assertRaises(ValueError) as caught:
            self.hub.submit(job("true", inputs={"./data": "data"}))
        self.assertIn("put_blob", str(caught.exception))

    def test_an_absent_hub_is_unreachable(self) -> None:
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            port = free.getsockname()[1]
        with self.assertRaises(UnreachableError) as caught:
            Hub(f"http://127.0.0.1:{port}", "token").nodes()
        self.assertIn(f"127.0.0.1:{port}", str(caught.exception))

    def test_a_bad_address_or_no_token_is_refused(self) -> None:
        for address in ("127.0.0.1:8750", "ftp://hub", ""):
            with self.assertRaises(ValueError) as caught:
                Hub(address, "token")
            self.assertIn("http://", str(caught.exception))
        with self.assertRaises(ValueError) as caught:
            Hub("http://127.0.0.1:8750", " ")
        self.assertIn("gantry hub token create", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
