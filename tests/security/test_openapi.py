"""`/openapi.json` describes every route of the app, is a valid OpenAPI 3 document, and the
answers to bodies generated from it (valid ones and ones of the wrong types) are never a 500 and
never an error outside the documented shape."""

from __future__ import annotations

from typing import Any

import jsonschema
from conftest import bearer
from openapi_spec_validator import validate
from security.test_role_table import declared
from starlette.testclient import TestClient

from queueserver.web.api.openapi import ERROR, PARAM

SAMPLE = {"string": "A001", "integer": 1, "boolean": True, "number": 1.5}
WRONG = {"string": 7, "integer": "one", "boolean": "yes", "number": "x"}


def test_the_document_describes_every_route(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    validate(doc)
    described = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    described |= {("WS", p) for p in doc["x-websockets"]}
    wanted = set()
    for method, path in declared(client.app):
        if path.startswith("/static/"):
            path += "/{file}"
        wanted.add((method, PARAM.sub(lambda m: "{" + m.group(1) + "}", path)))
    assert described == wanted


def _body(schema: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, prop in schema.get("properties", {}).items():
        kind = prop.get("type") or prop["anyOf"][0]["type"]
        out[name] = prop["enum"][0] if "enum" in prop and values is SAMPLE else values[kind]
    return out


def test_generated_bodies_get_no_500_and_documented_errors(
        client: TestClient, tokens: dict[str, str]) -> None:
    doc = client.get("/openapi.json").json()
    sent = 0
    for path, ops in doc["paths"].items():
        op = ops.get("post")
        content = (op or {}).get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        schema = content["application/json"]["schema"]
        concrete = (path.replace("{centre}", "wan-chai").replace("{n}", "1")
                    .replace("{number}", "A001").replace("{receipt_no}", "WC0000000000")
                    .replace("{name}", "nobody"))
        for values in (SAMPLE, WRONG):
            for role in ("admin", "supervisor"):
                answer = client.post(concrete, json=_body(schema, values),
                                     headers=bearer(tokens[role]))
                sent += 1
                assert answer.status_code < 500, (path, answer.text)
                if answer.status_code >= 400:
                    jsonschema.validate(answer.json(), ERROR)
                if values is WRONG and schema.get("properties"):
                    assert answer.status_code == 400, (path, answer.text)
    assert sent > 40
