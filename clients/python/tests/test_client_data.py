"""Data in and out through the client against a real hub and real agents:
blobs put (bytes and a file) and read by a task, a task's outputs listed
with where they are kept, and downloaded verified by sha256 from the hub's
blobs and, through the hub, from the node that keeps them."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unittest
from pathlib import Path

from client_env import hub, job, keeping_node, keeping_results, uploading_node

from gantry_client import BlobStored, DownloadError, Output


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


#: Writes two outputs and prints their sums as the task sees them.
WRITES_OUTPUTS = (
    "mkdir -p out/deep && head -c 3000000 /dev/urandom > out/deep/random.bin "
    "&& echo note > out/note.txt && cd out && sha256sum deep/random.bin note.txt"
)


class Data(unittest.TestCase):
    def setUp(self) -> None:
        self.hub = hub()
        self.folder = tempfile.TemporaryDirectory()
        self.dir = Path(self.folder.name)

    def tearDown(self) -> None:
        self.folder.cleanup()

    def test_blobs_put_from_bytes_and_a_file_reach_a_task(self) -> None:
        text = f"blob {os.getpid()} {os.urandom(8).hex()}\n".encode()
        stored = self.hub.put_blob(text)
        self.assertIsInstance(stored, BlobStored)
        self.assertEqual(stored.sha256, hashlib.sha256(text).hexdigest())
        self.assertEqual(stored.size, len(text))
        # Put again, it is the same blob (the hub had it; nothing is sent).
        self.assertEqual(self.hub.put_blob(text), stored)
        big = self.dir / "big.bin"
        big.write_bytes(os.urandom(5_000_000))
        from_file = self.hub.put_blob(big)
        self.assertEqual(from_file.sha256, sha256_of(big))
        self.assertEqual(from_file.size, 5_000_000)
        inputs = {stored.sha256: "in/a.txt", from_file.sha256: "in/b.bin"}
        task_id = self.hub.submit(job("cat in/a.txt && sha256sum in/b.bin", inputs=inputs))
        task = self.hub.wait(task_id, timeout=300)
        self.assertEqual(task.state, "succeeded", self.hub.logs(task_id))
        log = self.hub.logs(task_id)
        self.assertIn(text.decode(), log)
        self.assertIn(f"{from_file.sha256}  in/b.bin", log)

    def check_outputs(self, node: str, where: str) -> str:
        task_id = self.hub.submit(job(WRITES_OUTPUTS, node=node, outputs=["out"]))
        task = self.hub.wait(task_id, timeout=300)
        self.assertEqual(task.state, "succeeded", self.hub.logs(task_id))
        # What the task itself computed, in its log.
        sums = dict(
            (path, sha) for sha, path in re.findall(r"([0-9a-f]{64})  (\S+)", self.hub.logs(task_id))
        )
        listed = self.hub.outputs(task_id)
        self.assertTrue(all(isinstance(output, Output) for output in listed))
        by_path = {output.path: output for output in listed}
        self.assertEqual(sorted(by_path), ["out/deep/random.bin", "out/note.txt"])
        for output in listed:
            self.assertEqual(output.where, where)
            self.assertEqual(output.sha256, sums[output.path.removeprefix("out/")])
            if where == "node":
                self.assertEqual(output.node, node)
                self.assertTrue(output.node_online)
        self.assertEqual({o.path: o.stored for o in self.hub.get(task_id).outputs},
                         dict.fromkeys(by_path, where))
        # Into a folder, under the output's path; and to a file named here.
        into = self.dir / where
        into.mkdir()
        got = self.hub.download(task_id, "out/deep/random.bin", into)
        self.assertEqual(got, into / "out" / "deep" / "random.bin")
        self.assertEqual(sha256_of(got), sums["deep/random.bin"])
        self.assertEqual(got.stat().st_size, 3_000_000)
        note = self.hub.download(task_id, "out/note.txt", self.dir / f"{where}-note.txt")
        self.assertEqual(note.read_text(), "note\n")
        # A folder that does not exist yet, said with its trailing slash.
        fresh = self.hub.download(task_id, "out/note.txt", f"{self.dir}/{where}-new/")
        self.assertEqual(fresh, self.dir / f"{where}-new" / "out" / "note.txt")
        self.assertEqual(fresh.read_text(), "note\n")
        self.assertEqual([p.name for p in into.rglob("*.partial")], [])
        with self.assertRaises(DownloadError) as caught:
            self.hub.download(task_id, "out/missing.txt", into)
        self.assertIn("out/note.txt", str(caught.exception))
        return task_id

    def test_outputs_uploaded_to_the_hub_download_verified(self) -> None:
        self.check_outputs(uploading_node(), "hub")

    def test_outputs_kept_on_a_node_download_through_the_hub(self) -> None:
        task_id = self.check_outputs(keeping_node(), "node")
        # The node's copy changes (same length, other bytes): the download is
        # refused, and nothing is left where it was going.
        kept = Path(keeping_results(), task_id, "out", "note.txt")
        kept.unlink()
        kept.write_text("NOTE\n")
        bad = self.dir / "bad"
        with self.assertRaises(DownloadError) as caught:
            self.hub.download(task_id, "out/note.txt", bad / "note.txt")
        self.assertIn("nothing was kept", str(caught.exception))
        self.assertEqual(list(bad.iterdir()), [])


if __name__ == "__main__":
    unittest.main()
