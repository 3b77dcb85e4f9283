"""The shim of ``gantry drive -c`` (gantry_client.drive) as a real process: the
protocol on its stdout, and ``agent.hub`` built from the hello line.

Run: ``python3 -m unittest discover -s clients/python/tests`` (the package's
folder on PYTHONPATH, as ``gantry drive`` puts it). The Rust tests
(crates/drive/tests/shim.rs, crates/testkit/tests/drive.rs) cover the rest.
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

PACKAGE_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

HELLO = {
    "type": "hello",
    "version": 1,
    "server": "http://127.0.0.1:9",
    "token": "a-token",
    "ca_file": None,
    "name": "test",
    "monitor": None,
}


def converse(code, messages):
    """Runs the shim on ``code``; returns its answers and its stderr."""
    with tempfile.TemporaryDirectory() as folder:
        with open(os.path.join(folder, "usercode.py"), "w", encoding="utf-8") as f:
            f.write(code)
        lines = "".join(json.dumps(m) + "\n" for m in [HELLO, *messages])
        env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT)
        done = subprocess.run(
            [sys.executable, "-m", "gantry_client.drive", "usercode.py"],
            input=lines,
            capture_output=True,
            text=True,
            cwd=folder,
            env=env,
            timeout=60,
            check=True,
        )
    return [json.loads(line) for line in done.stdout.splitlines()], done.stderr


class ShimTest(unittest.TestCase):
    def test_create_answers_and_prints_go_to_stderr(self):
        code = "def user_create(agent):\n    print('made none')\n    return None\ndef user_update(agent, jobs):\n    pass\n"
        answers, stderr = converse(code, [{"type": "create", "agent": {"jobs": [], "counts": {"total": 0}}}])
        self.assertEqual(answers, [{"jobs": None}])
        self.assertIn("made none", stderr)
        self.assertNotIn("a-token", stderr)

    def test_agent_hub_is_a_hub_made_once_from_the_hello_line(self):
        code = (
            "import gantry_client\n"
            "def user_create(agent):\n"
            "    assert isinstance(agent.hub, gantry_client.Hub), type(agent.hub)\n"
            "    assert agent.hub is agent.hub\n"
            "    return None\n"
            "def user_update(agent, jobs):\n"
            "    pass\n"
        )
        answers, stderr = converse(code, [{"type": "create", "agent": {}}])
        self.assertEqual(answers, [{"jobs": None}], stderr)


if __name__ == "__main__":
    unittest.main()
