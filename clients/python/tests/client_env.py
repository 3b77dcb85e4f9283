"""What the client's tests share: the hub and nodes the Rust harness started.

``crates/testkit/tests/python_client.rs`` starts a real hub and two real
agents running Docker tasks, and hands them over in the environment:

- ``GANTRY_TEST_HUB_URL``, ``GANTRY_TEST_ADMIN_TOKEN``: the hub and an admin token;
- ``GANTRY_TEST_IMAGE``: the image the tasks run in (busybox);
- ``GANTRY_TEST_UPLOADING_NODE``: a node that uploads its tasks' outputs to the hub;
- ``GANTRY_TEST_KEEPING_NODE``: a node that keeps them in its local storage;
- ``GANTRY_TEST_KEEPING_RESULTS``: that storage's results folder (``<task id>/<path>``),
  where a test changes a kept output to see its download refused.

Run by hand without them, the tests skip; with ``GANTRY_REQUIRE_SERVICES=1``
(the harness sets it) a missing one fails instead.
"""

from __future__ import annotations

import os
import time
import unittest
import uuid
from typing import Any

from gantry_client import Hub


def setting(name: str) -> str:
    """An environment variable the harness sets."""
    value = os.environ.get(name, "")
    if value:
        return value
    if os.environ.get("GANTRY_REQUIRE_SERVICES") == "1":
        raise RuntimeError(f"{name} is not set; run these tests through python_client.rs")
    raise unittest.SkipTest(f"{name} is not set (the Rust harness sets it)")


def hub() -> Hub:
    """A client of the harness's hub, as its admin."""
    return Hub(setting("GANTRY_TEST_HUB_URL"), setting("GANTRY_TEST_ADMIN_TOKEN"))


def uploading_node() -> str:
    return setting("GANTRY_TEST_UPLOADING_NODE")


def keeping_node() -> str:
    return setting("GANTRY_TEST_KEEPING_NODE")


def keeping_results() -> str:
    return setting("GANTRY_TEST_KEEPING_RESULTS")


def unique(prefix: str) -> str:
    """A name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def job(script: str, node: str | None = None, **more: Any) -> dict[str, Any]:
    """A job running ``sh -c script`` in the test image on ``node`` (the uploading one)."""
    return {
        "image": setting("GANTRY_TEST_IMAGE"),
        "pull": "missing",
        "command": ["sh", "-c", script],
        "node": node or uploading_node(),
        **more,
    }


def until(what: str, check, limit: float = 120.0):
    """Polls ``check`` until it returns something true; fails after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
