"""Tasks through the client against a real hub and real Docker agents:
submit (a dict, a YAML and a JSON job file), get, list with its filters and
pages, wait, logs, follow while the log grows, cancel, pause and resume."""

from __future__ import annotations

import json
import tempfile
import unittest
from pathlib import Path

from client_env import hub, job, keeping_node, unique, until, uploading_node

from gantry_client import Node, Task


class Tasks(unittest.TestCase):
    def setUp(self) -> None:
        self.hub = hub()

    def test_a_dict_runs_and_is_waited_for(self) -> None:
        task_id = self.hub.submit(job("echo first; echo second", name=unique("dict")))
        self.assertIsInstance(task_id, str)
        task = self.hub.wait(task_id, timeout=300)
        self.assertIsInstance(task, Task)
        self.assertEqual(task.state, "succeeded", task.reason)
        self.assertTrue(task.done)
        self.assertEqual(task.exit_code, 0)
        states = [step.state for step in task.history]
        self.assertEqual(states[0], "queued")
        self.assertEqual(states[-1], "succeeded")
        self.assertIn("running", states)
        self.assertEqual(self.hub.logs(task_id), "first\nsecond\n")
        shown = self.hub.get(task_id)
        self.assertEqual(shown.id, task_id)
        self.assertEqual(shown.spec["command"], ["sh", "-c", "echo first; echo second"])
        self.assertEqual(shown.log_size, len("first\nsecond\n"))

    def test_job_files_yaml_and_json(self) -> None:
        with tempfile.TemporaryDirectory() as folder:
            spec = job("echo from a file; exit 3")
            yaml_name, json_name = unique("yaml"), unique("json")
            yaml_file = Path(folder, "job.yaml")
            # The hub reads YAML itself: the client sends the file as it is.
            yaml_file.write_text(
                f"name: {yaml_name}\n"
                f"image: {spec['image']}\n"
                "pull: missing\n"
                f"node: {spec['node']}\n"
                "command: [sh, -c, 'echo from a file; exit 3']\n"
            )
            json_file = Path(folder, "job.json")
            json_file.write_text(json.dumps({**spec, "name": json_name}))
            from_yaml = self.hub.submit(str(yaml_file))
            from_json = self.hub.submit(json_file)
        for task_id, name in [(from_yaml, yaml_name), (from_json, json_name)]:
            task = self.hub.wait(task_id, timeout=300)
            self.assertEqual(task.name, name)
            self.assertEqual(task.state, "failed")
            self.assertEqual(task.exit_code, 3)
            self.assertEqual(self.hub.logs(task_id), "from a file\n")

    def test_list_filters_and_pages(self) -> None:
        name = unique("listed")
        label = unique("nowhere")
        # No node has this label: the tasks stay queued until canceled.
        ids = []
        for i in range(3):
            spec = job("true", name=f"{name}-{i}", labels=[label])
            del spec["node"]
            ids.append(self.hub.submit(spec))
        newest_first = list(reversed(ids))
        page = self.hub.list(label=label)
        self.assertEqual([task.id for task in page.tasks], newest_first)
        self.assertTrue(all(task.state == "queued" for task in page.tasks))
        first = self.hub.list(label=label, limit=2)
        self.assertEqual([task.id for task in first.tasks], newest_first[:2])
        self.assertIsNotNone(first.next)
        second = self.hub.list(label=label, limit=2, before=first.next)
        self.assertEqual([task.id for task in second.tasks], newest_first[2:])
        every = [task.id for task in self.hub.list_all(label=label, page_size=1)]
        self.assertEqual(every, newest_first)
        by_name = self.hub.list(name=name.upper())
        self.assertEqual([task.id for task in by_name.tasks], newest_first)
        self.hub.cancel(ids[0])
        canceled = self.hub.list(label=label, state="canceled")
        self.assertEqual([task.id for task in canceled.tasks], [ids[0]])
        queued = self.hub.list(label=label, state="queued")
        self.assertEqual([task.id for task in queued.tasks], newest_first[:2])
        for task_id in ids[1:]:
            self.hub.cancel(task_id)
        # The node filter: a task that ran on the keeping node is listed under it only.
        ran = self.hub.submit(job("true", name=f"{name}-ran", node=keeping_node()))
        self.assertEqual(self.hub.wait(ran, timeout=300).state, "succeeded")
        on_keeper = self.hub.list(node=keeping_node(), name=name)
        self.assertEqual([task.id for task in on_keeper.tasks], [ran])
        self.assertEqual(self.hub.list(node=unique("no-such-node"), name=name).tasks, [])

    def test_nodes_are_listed_with_their_reports(self) -> None:
        nodes = {node.name: node for node in self.hub.nodes()}
        for name in (uploading_node(), keeping_node()):
            node = nodes[name]
            self.assertIsInstance(node, Node)
            self.assertTrue(node.online, node)
            self.assertEqual(node.state, "online")
            self.assertTrue(node.id)
            self.assertIsNotNone(node.last_seen)
            self.assertIsInstance(node.system, dict)
            self.assertTrue(node.system["hostname"])

    def test_follow_while_the_log_grows(self) -> None:
        script = "for i in 1 2 3 4 5; do echo line $i; sleep 1; done"
        task_id = self.hub.submit(job(script))
        seen: list[str] = []
        running_when_first_seen = None
        for line in self.hub.follow(task_id):
            if not seen:
                running_when_first_seen = not self.hub.get(task_id).done
            seen.append(line)
        self.assertEqual(seen, [f"line {i}" for i in range(1, 6)])
        self.assertTrue(running_when_first_seen, "the first line came only after the task ended")
        self.assertTrue(self.hub.get(task_id).done)

    def test_wait_gives_up_after_its_timeout(self) -> None:
        task_id = self.hub.submit(job("sleep 300"))
        with self.assertRaises(TimeoutError):
            self.hub.wait(task_id, timeout=1)
        self.hub.cancel(task_id)
        self.assertEqual(self.hub.wait(task_id, timeout=120).state, "canceled")

    def test_cancel_a_running_task(self) -> None:
        task_id = self.hub.submit(job("echo started; sleep 300"))
        until("the task to run", lambda: self.hub.get(task_id).state == "running")
        answer = self.hub.cancel(task_id)
        self.assertEqual(answer.id, task_id)
        self.assertTrue(answer.pending_command == "cancel" or answer.state == "canceled")
        task = self.hub.wait(task_id, timeout=120)
        self.assertEqual(task.state, "canceled")

    def test_pause_and_resume(self) -> None:
        script = "for i in $(seq 1 30); do echo tick $i; sleep 0.2; done"
        task_id = self.hub.submit(job(script))
        until("the task to tick", lambda: self.hub.get(task_id).log_size > 0)
        answer = self.hub.pause(task_id)
        self.assertTrue(answer.pending_command == "pause" or answer.state == "paused")
        until("the task to pause", lambda: self.hub.get(task_id).state == "paused")
        frozen = self.hub.get(task_id).log_size
        self.hub.resume(task_id)
        until("the task to resume", lambda: self.hub.get(task_id).state != "paused")
        task = self.hub.wait(task_id, timeout=300)
        self.assertEqual(task.state, "succeeded")
        self.assertGreater(task.log_size, frozen)
        states = [step.state for step in task.history]
        self.assertLess(states.index("paused"), len(states) - 1)
        self.assertEqual(states[states.index("paused") + 1], "running")
        self.assertEqual(self.hub.logs(task_id).splitlines()[-1], "tick 30")


if __name__ == "__main__":
    unittest.main()
