"""Every call the client makes to a hub, in one table.

:class:`~gantry_client.Hub` sends a request only through a :class:`Route` of
this table, with only the query parameters the route lists, and reads its
answer as the route's ``answer`` class. A test reads the table against the
real hub's OpenAPI document (``/v1/openapi.json``): each method and path must
be there, each query parameter one the hub documents, and each answer's
schema the one the route's class stands for. So the client cannot call what
the hub does not serve without a test failing.
"""

from __future__ import annotations

from dataclasses import dataclass

from .types import BlobStored, NodeList, OutputList, Task, TaskList


@dataclass(frozen=True)
class Route:
    """One endpoint of the hub as the client calls it."""

    method: str
    #: The path as the hub's document writes it, with ``{name}`` for parameters.
    path: str
    #: The query parameters the client may send.
    query: tuple[str, ...] = ()
    #: The class of a JSON answer; ``None`` when the answer is bytes or empty.
    answer: type | None = None


SUBMIT = Route("POST", "/v1/tasks")
LIST_TASKS = Route(
    "GET", "/v1/tasks", ("state", "node", "label", "name", "before", "limit"), TaskList
)
SHOW_TASK = Route("GET", "/v1/tasks/{id}", answer=Task)
READ_LOG = Route("GET", "/v1/tasks/{id}/log", ("offset", "follow"))
CANCEL = Route("POST", "/v1/tasks/{id}/cancel", answer=Task)
PAUSE = Route("POST", "/v1/tasks/{id}/pause", answer=Task)
RESUME = Route("POST", "/v1/tasks/{id}/resume", answer=Task)
LIST_NODES = Route("GET", "/v1/nodes", answer=NodeList)
HAS_BLOB = Route("HEAD", "/v1/blobs/{sha256}")
PUT_BLOB = Route("PUT", "/v1/blobs/{sha256}", answer=BlobStored)
LIST_OUTPUTS = Route("GET", "/v1/tasks/{id}/outputs", answer=OutputList)
GET_OUTPUT = Route("GET", "/v1/tasks/{id}/outputs/{path}")

#: The whole table.
ROUTES: tuple[Route, ...] = (
    SUBMIT,
    LIST_TASKS,
    SHOW_TASK,
    READ_LOG,
    CANCEL,
    PAUSE,
    RESUME,
    LIST_NODES,
    HAS_BLOB,
    PUT_BLOB,
    LIST_OUTPUTS,
    GET_OUTPUT,
)
