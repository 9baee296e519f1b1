"""Builds the OpenAPI 3.1 document from the route registry, so it cannot drift from the app."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"{(\w+)}")
_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            "required": ["code", "message"],
        }
    },
}


def openapi_document(routes: Iterable[Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": _ERROR}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Omnichannel hub",
            "version": "1",
            "description": "Staff API, channel webhooks and operations endpoints. "
            'Errors are `{"error": {"code", "message"}}`.',
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(route: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": route.summary,
        "tags": [route.tag],
        "operationId": f"{route.method.lower()}_{route.handler.__name__}",
        "responses": {
            str(route.ok_status): {"description": "Success"},
            "default": {
                "description": "Error",
                "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}},
            },
        },
    }
    if route.roles is not None:
        operation["security"] = [{"bearer": []}]
        operation["description"] = "Roles: " + ", ".join(route.roles)
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(route.path)
    ]
    parameters += [
        {
            "name": p.name,
            "in": "query",
            "required": False,
            "description": p.description,
            "schema": {"type": p.type},
        }
        for p in route.query
    ]
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        schema = route.body.model_json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[route.body.__name__] = schema
        media_type = route.raw_body or "application/json"
        operation["requestBody"] = {
            "required": True,
            "content": {media_type: {"schema": {"$ref": _REF.format(model=route.body.__name__)}}},
        }
    elif route.raw_body is not None:
        operation["requestBody"] = {"required": True, "content": {route.raw_body: {"schema": {}}}}
    return operation
