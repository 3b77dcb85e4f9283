"""`pip install ./clients/python` into a fresh venv works, and importing the
installed package opens no connection (an audit hook watches every socket
connect and name lookup, with no hub running and no GANTRY_* settings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

#: The repository root (this file is clients/python/tests/...).
ROOT = Path(__file__).resolve().parents[3]

#: Run in the venv: imports the package under an audit hook that records
#: connects and lookups, then proves the hook sees one by connecting itself.
IMPORT_WATCHED = r"""
import json, socket, sys
seen = []
def hook(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname"):
        seen.append(event)
sys.addaudithook(hook)
import gantry_client
from importlib.metadata import version
during_import = list(seen)
try:
    socket.create_connection(("127.0.0.1", 9), timeout=1).close()
except OSError:
    pass
print(json.dumps({
    "file": gantry_client.__file__,
    "version": version("gantry-client"),
    "during_import": during_import,
    "hook_works": len(seen) > len(during_import),
    "hub": repr(gantry_client.Hub("http://127.0.0.1:9", "t")),
}))
"""


class Install(unittest.TestCase):
    def test_pip_install_then_import_without_network(self) -> None:
        with tempfile.TemporaryDirectory() as folder:
            venv = Path(folder, "venv")
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            python = str(venv / "bin" / "python")
            env = {k: v for k, v in os.environ.items() if not k.startswith(("GANTRY_", "PYTHON"))}
            pip = subprocess.run(
                [python, "-m", "pip", "install", "--quiet", "./clients/python"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            self.assertEqual(pip.returncode, 0, pip.stdout + pip.stderr)
            ran = subprocess.run(
                [python, "-c", IMPORT_WATCHED],
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            self.assertEqual(ran.returncode, 0, ran.stderr)
            said = json.loads(ran.stdout)
            self.assertTrue(said["file"].startswith(str(venv)), said["file"])
            self.assertEqual(said["version"], "0.1.0")
            self.assertEqual(said["during_import"], [])
            self.assertTrue(said["hook_works"], "the audit hook saw no connect at all")
            self.assertEqual(said["hub"], "Hub('http://127.0.0.1:9')")


if __name__ == "__main__":
    unittest.main()
