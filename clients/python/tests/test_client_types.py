"""What needs no hub: answers read tolerantly, the address and token checks,
the warning for a token in clear, and Hub.from_env."""

from __future__ import annotations

import os
import unittest
from unittest import mock

from gantry_client import Hub, Node, Output, Task

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


if __name__ == "__main__":
    unittest.main()
