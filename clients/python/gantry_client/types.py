"""The hub's answers as dataclasses, built from its JSON.

Each class names the schema of the hub's OpenAPI document (``/v1/openapi.json``)
it stands for in ``SCHEMA``; a test checks, against a real hub, that every
field is a property of that schema and that every property the schema
requires is a field, so the two cannot drift apart. Fields without a default
are the ones the schema requires.

Reading is tolerant: a field the hub adds later is ignored, and a field it
leaves out takes its default, so an older client keeps working against a
newer hub. Nested objects the client does not model (a task's job spec, a
node's system report) stay plain dicts. Times are milliseconds since the Unix
epoch, as the hub sends them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

#: The states a task does not leave.
TERMINAL_STATES = frozenset({"succeeded", "failed", "canceled"})


def _build(cls: type, data: dict[str, Any]) -> Any:
    """An instance of the dataclass ``cls`` from a JSON object.

    Keys the class does not know are dropped; the classes in its ``NESTED``
    map are built for their fields (one object, or a list of them).
    """
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object for {cls.__name__}, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    values = {key: value for key, value in data.items() if key in known}
    for name, inner in getattr(cls, "NESTED", {}).items():
        value = values.get(name)
        if isinstance(value, list):
            values[name] = [_build(inner, item) for item in value]
        elif isinstance(value, dict):
            values[name] = _build(inner, value)
    return cls(**values)


class _FromJson:
    """Adds ``from_json`` to a dataclass."""

    #: The schema of the hub's OpenAPI document this class stands for.
    SCHEMA: ClassVar[str]
    #: Fields holding other dataclasses (or lists of them).
    NESTED: ClassVar[dict[str, type]] = {}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Any:
        """Builds one from the hub's JSON object, ignoring fields it does not know."""
        return _build(cls, data)


@dataclass
class Transition(_FromJson):
    """One step of a task's history: the state it entered, when, and why."""

    SCHEMA: ClassVar[str] = "Transition"

    state: str
    at: int
    reason: str | None = None


@dataclass
class PullProgress(_FromJson):
    """How much of a task's image its node has pulled, in bytes."""

    SCHEMA: ClassVar[str] = "PullProgress"

    done: int
    total: int


@dataclass
class OutputFile(_FromJson):
    """A result a task's node reported: its path, size, sha256 and where it is kept."""

    SCHEMA: ClassVar[str] = "OutputFile"

    path: str
    size: int
    sha256: str
    #: ``hub`` (uploaded as a blob) or ``node`` (in the node's local storage).
    stored: str


@dataclass
class Task(_FromJson):
    """A submitted job and what became of it."""

    SCHEMA: ClassVar[str] = "Task"
    NESTED: ClassVar[dict[str, type]] = {
        "outputs": OutputFile,
        "history": Transition,
        "pull_progress": PullProgress,
    }

    id: str
    name: str
    #: ``queued``, ``assigned``, ``pulling``, ``running``, ``paused``,
    #: ``succeeded``, ``failed``, ``canceled`` or ``lost``.
    state: str
    #: The job as the hub keeps it (a job file's keys).
    spec: dict[str, Any]
    created_at: int
    updated_at: int
    #: Bytes of log the hub holds.
    log_size: int
    outputs: list[OutputFile]
    #: Oldest first; filled by :meth:`Hub.get`, empty in lists.
    history: list[Transition]
    node: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    started_at: int | None = None
    finished_at: int | None = None
    #: ``cancel``, ``pause`` or ``resume`` while its node has not acted on it.
    pending_command: str | None = None
    pull_progress: PullProgress | None = None
    checkpoint: str | None = None

    @property
    def done(self) -> bool:
        """Whether the task has ended (succeeded, failed or canceled)."""
        return self.state in TERMINAL_STATES


@dataclass
class TaskList(_FromJson):
    """One page of tasks, newest first; ``next`` asks for the page after it."""

    SCHEMA: ClassVar[str] = "TaskList"
    NESTED: ClassVar[dict[str, type]] = {"tasks": Task}

    tasks: list[Task]
    #: Pass as ``before=`` to :meth:`Hub.list` for older tasks; ``None`` on the last page.
    next: str | None = None


@dataclass
class Node(_FromJson):
    """A machine that runs tasks, as the hub last heard of it."""

    SCHEMA: ClassVar[str] = "Node"

    id: str
    name: str
    labels: list[str]
    online: bool
    tasks_held: int
    agent_labels: list[str] = field(default_factory=list)
    given_labels: list[str] = field(default_factory=list)
    only_labeled: bool = False
    #: ``online``, ``offline``, ``paused``, ``draining`` or ``yielding``.
    state: str | None = None
    last_seen: int | None = None
    version: str | None = None
    yield_reason: str | None = None
    #: The tasks it holds now, as the hub's JSON has them.
    running: list[dict[str, Any]] = field(default_factory=list)
    #: What it can take (GPUs, CPUs, memory), as the hub's JSON has it.
    capacity: dict[str, Any] | None = None
    #: Its last system report (CPU, memory, disk, GPUs), as the hub's JSON has it.
    system: dict[str, Any] | None = None


@dataclass
class Output(_FromJson):
    """A task's output as the hub lists it for download, with where it is kept."""

    SCHEMA: ClassVar[str] = "ListedOutput"

    path: str
    size: int
    sha256: str
    #: ``hub`` or ``node``; a node-kept output comes through the hub from that node.
    where: str
    node: str | None = None
    node_online: bool | None = None
    node_last_seen: int | None = None


@dataclass
class BlobStored(_FromJson):
    """A blob the hub holds: its address and size."""

    SCHEMA: ClassVar[str] = "BlobStored"

    sha256: str
    size: int


@dataclass
class NodeList(_FromJson):
    """Every node the hub knows."""

    SCHEMA: ClassVar[str] = "NodeList"
    NESTED: ClassVar[dict[str, type]] = {"nodes": Node}

    nodes: list[Node]


@dataclass
class OutputList(_FromJson):
    """A task's outputs, with where each is kept."""

    SCHEMA: ClassVar[str] = "OutputList"
    NESTED: ClassVar[dict[str, type]] = {"outputs": Output}

    #: The task's id.
    task: str
    outputs: list[Output]


#: Every class above that stands for a schema of the hub's document.
MODELS: tuple[type, ...] = (
    Transition,
    PullProgress,
    OutputFile,
    Task,
    TaskList,
    Node,
    Output,
    OutputList,
    NodeList,
    BlobStored,
)
