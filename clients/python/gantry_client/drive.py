"""Runs a Python file's ``user_create`` and ``user_update`` for ``gantry drive -c``.

``python3 -m gantry_client.drive usercode.py`` is started by ``gantry drive``
and speaks its JSON-lines protocol (docs/drive.md) on the stdin and stdout it
was given. Before the user's file is loaded, those two are moved to private
descriptors: file descriptor 1 (and ``sys.stdout``) then point at stderr, so a
``print`` in user code, or a subprocess it starts, never corrupts the protocol,
and descriptor 0 is /dev/null.

The user's file defines, as Borgy's process agent wants:

    def user_create(agent):      # -> list of job dicts, [] (ask again later) or None (no more)
    def user_update(agent, jobs):  # jobs: the state changes since the last call, in order

``agent`` has ``jobs`` (every job, latest state, as dicts with id, name, state,
node, started, ended, exit_code, spec), ``counts`` (jobs per state, and
``total``), ``name``, ``monitor``, ``hub`` (a ``gantry_client.Hub`` for the
driver's hub, made when first used) and ``kill()`` (stop the driver after this
call returns).
"""

import importlib.util
import json
import os
import sys
import traceback

USAGE = "usage: python3 -m gantry_client.drive USERCODE.py (gantry drive -c USERCODE.py runs it)"


class Agent:
    """The driver's handle, as user code sees it."""

    def __init__(self, hello):
        self._hello = hello
        self._hub = None
        self._kill = False
        self.name = hello.get("name")
        self.monitor = hello.get("monitor")
        self.jobs = []
        self.counts = {}

    @property
    def hub(self):
        """A gantry_client.Hub for the driver's hub (imported when first used)."""
        if self._hub is None:
            from gantry_client import Hub  # noqa: PLC0415 - only when asked for

            self._hub = Hub(self._hello["server"], self._hello["token"], ca_file=self._hello.get("ca_file"))
        return self._hub

    def kill(self):
        """Stops the driver once the current call returns (as Borgy's /kill)."""
        self._kill = True

    def _see(self, view):
        self.jobs = view.get("jobs", [])
        self.counts = view.get("counts", {})

    def __repr__(self):
        return f"Agent(name={self.name!r}, counts={self.counts!r})"


def _load(path):
    """The user's module, loaded from ``path`` as ``usercode``."""
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location("usercode", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules["usercode"] = module
    spec.loader.exec_module(module)
    for name, arity in (("user_create", "agent"), ("user_update", "agent, jobs")):
        if not callable(getattr(module, name, None)):
            raise AttributeError(f"{path} defines no {name}({arity}); define it as in the README's example")
    return module


def _failed(what):
    """Prints the traceback on stderr; returns the answer that says so."""
    error_type, error, _ = sys.exc_info()
    traceback.print_exc(file=sys.stderr)
    sys.stderr.flush()
    return {"error": f"{what} raised {error_type.__name__}: {error} (the traceback is above)"}


def _create(module, agent):
    try:
        jobs = module.user_create(agent)
    except BaseException:  # noqa: BLE001 - any failure of user code is reported, then the driver decides
        return _failed("user_create")
    if jobs is None:
        return {"jobs": None}
    if isinstance(jobs, tuple):
        jobs = list(jobs)
    if not isinstance(jobs, list) or not all(isinstance(job, dict) for job in jobs):
        return {
            "error": f"user_create returned {type(jobs).__name__}: {jobs!r:.200}; "
            "return a list of job dicts, [] for none now, or None when there are no more"
        }
    return {"jobs": jobs}


def _update(module, agent, jobs):
    try:
        module.user_update(agent, jobs)
    except BaseException:  # noqa: BLE001
        return _failed("user_update")
    return {}


def main(argv):
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        return 2
    # The protocol keeps the descriptors it was given; user code gets stderr and /dev/null.
    out = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    inp = os.fdopen(os.dup(0), "r", encoding="utf-8")
    os.dup2(2, 1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdout = sys.stderr
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - lives as long as the process

    def answer(reply):
        try:
            line = json.dumps(reply)
        except (TypeError, ValueError) as error:
            line = json.dumps({"error": f"the answer cannot be written as JSON: {error}"})
        out.write(line + "\n")
        out.flush()

    first = inp.readline()
    if not first:
        return 0
    agent = Agent(json.loads(first))
    module, load_error = None, None
    try:
        module = _load(argv[0])
    except BaseException:  # noqa: BLE001
        load_error = _failed(f"loading {argv[0]}")
    for line in inp:
        message = json.loads(line)
        if load_error is not None:
            answer(load_error)
            continue
        agent._see(message.get("agent", {}))
        kind = message.get("type")
        if kind == "create":
            reply = _create(module, agent)
        elif kind == "update":
            reply = _update(module, agent, message.get("jobs", []))
        else:
            reply = {}
        if agent._kill:
            reply["kill"] = True
        answer(reply)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        # Ctrl-C reaches the driver too; it says what happens to the jobs.
        sys.exit(130)
