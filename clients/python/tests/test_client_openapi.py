"""The client against the real hub's OpenAPI document, so the two cannot drift:

- every route the client calls (``gantry_client.routes``) is in the
  document with its method, takes only query parameters the document lists,
  and answers with the schema its ``answer`` class stands for;
- every dataclass's fields are properties of its schema, every property the
  schema requires is a field, and a field without a default is required
  there; a nested dataclass field points at that class's schema;
- ``hub.py`` names no path of its own: every call goes through the table.

The last tests doctor the document and the classes to show the check fails
when a name changes on either side.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import unittest
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from client_env import setting

import gantry_client.hub
from gantry_client.routes import ROUTES, Route
from gantry_client.types import MODELS, _FromJson

#: Where a ``$ref`` to a component schema starts.
REF = "#/components/schemas/"


def document() -> dict[str, Any]:
    """The document the running hub serves (a public route: no token)."""
    url = setting("GANTRY_TEST_HUB_URL") + "/v1/openapi.json"
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.load(answer)


def refs(schema: Any) -> set[str]:
    """The component schemas a property's schema points at (through arrays,
    ``anyOf``, ``oneOf`` and ``allOf`` too)."""
    found: set[str] = set()
    if isinstance(schema, dict):
        if isinstance(schema.get("$ref"), str) and schema["$ref"].startswith(REF):
            found.add(schema["$ref"][len(REF):])
        for key in ("items", "anyOf", "oneOf", "allOf"):
            value = schema.get(key)
            for inner in value if isinstance(value, list) else [value]:
                found |= refs(inner)
    return found


def route_problems(doc: dict[str, Any], route: Route) -> list[str]:
    """What is wrong with one route of the client against the document."""
    name = f"{route.method} {route.path}"
    operation = doc["paths"].get(route.path, {}).get(route.method.lower())
    if operation is None:
        return [f"{name}: the hub's document has no such route"]
    problems = []
    documented = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
    for extra in sorted(set(route.query) - documented):
        problems.append(f"{name}: the hub documents no query parameter {extra!r}")
    if route.answer is not None:
        success = [v for k, v in operation["responses"].items() if k.startswith("2")]
        schema = success[0].get("content", {}).get("application/json", {}).get("schema")
        if refs(schema) != {route.answer.SCHEMA}:
            problems.append(
                f"{name}: answers {sorted(refs(schema))}, "
                f"the client reads {route.answer.__name__} ({route.answer.SCHEMA})"
            )
    return problems


def model_problems(doc: dict[str, Any], model: type) -> list[str]:
    """What is wrong with one dataclass against its schema."""
    name = f"{model.__name__} ({model.SCHEMA})"
    schema = doc["components"]["schemas"].get(model.SCHEMA)
    if schema is None:
        return [f"{name}: the hub's document has no schema {model.SCHEMA}"]
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    fields = {f.name: f for f in dataclasses.fields(model)}
    problems = [
        f"{name}: field {f!r} is not a property of the schema"
        for f in sorted(set(fields) - set(properties))
    ]
    problems += [
        f"{name}: the schema requires {p!r}, which is not a field"
        for p in sorted(required - set(fields))
    ]
    for f in sorted(fields):
        has_default = (
            fields[f].default is not dataclasses.MISSING
            or fields[f].default_factory is not dataclasses.MISSING
        )
        if not has_default and f in properties and f not in required:
            problems.append(f"{name}: field {f!r} has no default but the hub may leave it out")
    for f, inner in model.NESTED.items():
        if f in properties and refs(properties[f]) != {inner.SCHEMA}:
            problems.append(
                f"{name}: {f!r} is {sorted(refs(properties[f]))} in the schema, "
                f"{inner.__name__} ({inner.SCHEMA}) in the client"
            )
    return problems


def problems(
    doc: dict[str, Any],
    routes: tuple[Route, ...] = ROUTES,
    models: tuple[type, ...] = MODELS,
) -> list[str]:
    """Every drift between the client and the document."""
    found = []
    for route in routes:
        found += route_problems(doc, route)
    for model in models:
        found += model_problems(doc, model)
    return found


class Drift(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.doc = document()

    def test_the_client_matches_the_hubs_document(self) -> None:
        self.assertEqual(problems(self.doc), [])

    def test_every_call_goes_through_the_table(self) -> None:
        source = Path(gantry_client.hub.__file__).read_text()
        self.assertNotIn('"/v1', source)
        self.assertNotIn("'/v1", source)
        self.assertGreaterEqual(len(ROUTES), 12)
        self.assertTrue(all(isinstance(route, Route) for route in ROUTES))

    def test_a_property_renamed_by_the_hub_is_caught(self) -> None:
        doc = copy.deepcopy(self.doc)
        task = doc["components"]["schemas"]["Task"]
        task["properties"]["log_bytes"] = task["properties"].pop("log_size")
        task["required"] = ["log_bytes" if r == "log_size" else r for r in task["required"]]
        found = problems(doc)
        self.assertIn("Task (Task): field 'log_size' is not a property of the schema", found)
        self.assertIn("Task (Task): the schema requires 'log_bytes', which is not a field", found)

    def test_a_route_or_parameter_the_hub_drops_is_caught(self) -> None:
        doc = copy.deepcopy(self.doc)
        del doc["paths"]["/v1/nodes"]
        log = doc["paths"]["/v1/tasks/{id}/log"]["get"]
        log["parameters"] = [p for p in log["parameters"] if p["name"] != "follow"]
        found = problems(doc)
        self.assertIn("GET /v1/nodes: the hub's document has no such route", found)
        self.assertIn(
            "GET /v1/tasks/{id}/log: the hub documents no query parameter 'follow'", found
        )

    def test_a_field_renamed_in_the_client_is_caught(self) -> None:
        @dataclass
        class Transition(_FromJson):
            SCHEMA: ClassVar[str] = "Transition"
            state: str
            when: int

        found = problems(self.doc, routes=(), models=(Transition,))
        self.assertEqual(
            found,
            [
                "Transition (Transition): field 'when' is not a property of the schema",
                "Transition (Transition): the schema requires 'at', which is not a field",
            ],
        )


if __name__ == "__main__":
    unittest.main()
