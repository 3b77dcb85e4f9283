"""The Python client of a Gantry hub.

>>> from gantry_client import Hub
>>> hub = Hub("https://hub.example:8750", token)
>>> task_id = hub.submit({"image": "python:3.12", "command": ["python", "-c", "print(1)"]})
>>> hub.wait(task_id).state
'succeeded'

Standard library only; importing it opens no connection.
"""

from .errors import DownloadError, GantryError, HubError, UnreachableError
from .hub import Hub
from .types import (
    TERMINAL_STATES,
    BlobStored,
    Node,
    Output,
    OutputFile,
    PullProgress,
    Task,
    TaskList,
    Transition,
)

__all__ = [
    "TERMINAL_STATES",
    "BlobStored",
    "DownloadError",
    "GantryError",
    "Hub",
    "HubError",
    "Node",
    "Output",
    "OutputFile",
    "PullProgress",
    "Task",
    "TaskList",
    "Transition",
    "UnreachableError",
]
