"""The OpenAPI document (/schema) tells the truth: every status an operation can answer, all errors with one body
schema, public operations without security, closed bodies as closed, and the content types no annotation can say.

Litestar documents each route's success and, where it takes input, a 400. `DocumentedErrors` adds, as each route
is registered, the statuses that follow from how the route is built, so a new route is documented by the same rules:

- 400 for every operation: input is validated, and a NUL in any query parameter is refused
  (`http_errors.read_input_strictly`);
- 401 outside the authentication middleware's public paths;
- 403 where a guard limits the route to administrators or to a point's supervisors, and for writes: one sent by
  another site's page without a bearer token is refused (`auth.csrf`);
- 404 where the path names something (a point, a conversation, ...): it does not exist, or is not the caller's;
- 409 for signed-in writes: a unique rule or the current state (connected, not FAILED, ...) may forbid them;
- 413 and 415 where a JSON body is read: over the request size limit, or not `application/json` (`auth.csrf`);
- 503 wherever the database is read (all but `WITHOUT_DATABASE`): it is unreachable, retry after `Retry-After`;

and `FACTS` lists, per operation, what only its code knows (login throttling, the CSV upload, the QR image).
`ClosedStructs` marks the Structs that refuse unknown fields with `additionalProperties: false`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

import msgspec
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, RequestBody, Schema
from litestar.plugins import OpenAPISchemaPlugin, ReceiveRoutePlugin
from litestar.response import ServerSentEvent
from litestar.routes import BaseRoute, HTTPRoute
from litestar.typing import FieldDefinition

from ventanilla.auth.guards import requires_admin, requires_point_supervisor
from ventanilla.http_errors import json_body
from ventanilla.whatsapp.schemas import QrJson

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WITHOUT_DATABASE = frozenset({("GET", "/health")})
POINT = "/api/service-points/{sp_id}"


class ErrorItem(msgspec.Struct):
    """One problem: the field (`key`) and where it was (`source`: body, query, path); `row` in a CSV file."""

    message: str
    key: str | None = None
    source: str | None = None
    row: int | None = None


class ErrorBody(msgspec.Struct):
    """Every error answer: `detail` for people, `extra` listing each problem of the input."""

    status_code: int
    detail: str
    extra: list[ErrorItem] | None = None


def error(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorBody, description=description, generate_examples=False)


BINARY = Schema(type=OpenAPIType.STRING, format="binary")  # type: ignore[arg-type]
TEXT = Schema(type=OpenAPIType.STRING)


@dataclasses.dataclass(frozen=True)
class Fact:
    """What one operation's code does that its signature does not say."""

    responses: dict[int, ResponseSpec] = dataclasses.field(default_factory=dict)
    more_content: dict[str, OpenAPIMediaType] = dataclasses.field(default_factory=dict)  # for the success status
    request_body: RequestBody | None = None


FACTS: dict[tuple[str, str], Fact] = {
    ("POST", "/api/auth/login"): Fact(
        {401: error("Wrong email or password"), 429: error("Too many failed logins: wait Retry-After seconds")}
    ),
    ("PUT", "/api/me/password"): Fact({429: error("Too many wrong current passwords: wait Retry-After seconds")}),
    ("GET", "/ready"): Fact(
        {
            503: ResponseSpec(
                data_container=dict[str, str | None],
                description="The database is unreachable or not migrated",
                generate_examples=False,
            )
        }
    ),
    ("GET", POINT + "/whatsapp/qr"): Fact(
        {
            200: ResponseSpec(
                data_container=QrJson,
                description="The pending code: JSON, PNG or SVG, by `?format=` or the Accept header",
                generate_examples=False,
            ),
            409: error("The point is connected, or uses the Cloud API: there is no code to scan"),
        },
        more_content={"image/png": OpenAPIMediaType(schema=BINARY), "image/svg+xml": OpenAPIMediaType(schema=TEXT)},
    ),
    ("POST", POINT + "/whatsapp/pair-code"): Fact(
        {
            409: error("Already linked, or a Cloud API point (not linked by code)"),
            503: error("WhatsApp could not issue a pairing code"),
        }
    ),
    ("GET", POINT + "/whatsapp/cloud/templates"): Fact(
        {
            409: error("Not a Cloud API point, or its businessAccountId is not set"),
            502: error("Meta refused the request (its code and title in `detail`)"),
            503: error("Meta or the database is unreachable: try again after `Retry-After` seconds"),
        }
    ),
    ("POST", POINT + "/conversations/{conversation_id}/templates"): Fact(
        {
            409: error("Not a Cloud API point, or its businessAccountId is not set"),
            422: error("The template is not approved, or takes another number of parameters"),
            502: error("Meta refused the request (its code and title in `detail`)"),
            503: error("Meta or the database is unreachable: try again after `Retry-After` seconds"),
        }
    ),
    ("GET", "/webhooks/whatsapp-cloud"): Fact(
        {403: error("hub.verify_token is not a point's, or hub.mode is not subscribe")}
    ),
    ("POST", "/webhooks/whatsapp-cloud"): Fact(
        {
            401: error("X-Hub-Signature-256 is not the HMAC of the body with the app secret of a point it names"),
            503: error("The database is unavailable, or the secrets were sealed with another key: Meta tries again"),
        }
    ),
    ("POST", POINT + "/conversations/{conversation_id}/messages"): Fact(
        {
            413: error("The file is larger than MEDIA_MAX_BYTES"),
            415: error("Neither application/json nor multipart/form-data, or a file type that cannot be sent"),
        },
        request_body=RequestBody(
            required=True,
            description="A text reply as JSON, or a file (image or document) with an optional caption as a form",
            content={
                "application/json": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT,
                        required=["content"],
                        properties={"content": Schema(type=OpenAPIType.STRING, min_length=1, max_length=4096)},
                        additional_properties=False,
                    )
                ),
                "multipart/form-data": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT,
                        required=["file"],
                        properties={"file": BINARY, "content": Schema(type=OpenAPIType.STRING, max_length=1024)},
                    )
                ),
            },
        ),
    ),
    ("POST", POINT + "/shipments/import"): Fact(
        {
            413: error("The file is larger than 5 MiB or has more than 10,000 rows"),
            415: error("Neither text/csv nor multipart/form-data"),
            422: error("Problems in the file, each with its row and column; nothing was imported"),
        },
        request_body=RequestBody(
            required=True,
            description="The CSV file (columns in docs/shipments-and-faqs.md), raw or as the form field `file`",
            content={
                "text/csv": OpenAPIMediaType(schema=TEXT),
                "multipart/form-data": OpenAPIMediaType(
                    schema=Schema(type=OpenAPIType.OBJECT, required=["file"], properties={"file": BINARY})
                ),
            },
        ),
    ),
}
NO_FACT = Fact()  # every route without a fact of its own


class DocumentedErrors(ReceiveRoutePlugin):
    """Documents every operation's error statuses (with `ErrorBody`) and security as its route is registered.

    `public_paths` and `public_opt_key` are the authentication middleware's exclusions (`exclude`,
    `exclude_opt_key`), so the document marks public exactly what the middleware lets through.
    """

    def __init__(self, public_paths: Sequence[str], public_opt_key: str) -> None:
        self.public = re.compile("|".join(public_paths)) if public_paths else None
        self.public_opt_key = public_opt_key

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        for handler, _ in route.route_handler_map.values():
            if handler.resolve_include_in_schema():
                self._document(route, handler)

    def _document(self, route: HTTPRoute, handler: HTTPRouteHandler) -> None:
        public = bool(self.public and self.public.search(route.path)) or bool(handler.opt.get(self.public_opt_key))
        guards = {guard for layer in handler.ownership_layers for guard in layer.guards or ()}
        reads_body = json_body(handler) is not None
        statuses = {400: error("Bad input: `extra` names each field (key) and where it was (source)")}
        if not public:
            statuses[401] = error("No valid bearer token")
        writes = bool(handler.http_methods & WRITES)
        if requires_admin in guards or requires_point_supervisor in guards:
            statuses[403] = error("Only administrators (or the point's supervisors, where stated) may do this")
        elif writes:
            statuses[403] = error("A write from another site's page without a bearer token")
        if route.path_parameters:
            statuses[404] = error("Not found, or not the caller's to see (another branch's ids answer the same)")
        if not public and writes:
            statuses[409] = error("The current state or a unique rule forbids it")
        if reads_body:
            statuses[413] = error("The body is larger than the server accepts")
            statuses[415] = error("The body is not application/json")
        keys = [(method, route.path_format) for method in handler.http_methods]
        if not WITHOUT_DATABASE.issuperset(keys):
            statuses[503] = error("The database is unavailable: try again after `Retry-After` seconds")
        fact = next((FACTS[key] for key in keys if key in FACTS), NO_FACT)
        handler.responses = {**statuses, **(handler.responses or {}), **fact.responses}
        success = str(handler.status_code)
        stream = handler.parsed_fn_signature.return_type.is_subclass_of(ServerSentEvent)
        key = (public, success, stream, id(fact))  # a class per kind of operation, not per route: building one costs
        if key not in _OPERATIONS:
            content = {"text/event-stream": OpenAPIMediaType(schema=TEXT)} if stream else None
            _OPERATIONS[key] = _operation(
                public=public, success=success, content=content, more_content=fact.more_content, body=fact.request_body
            )
        handler.operation_class = _OPERATIONS[key]


_OPERATIONS: dict[tuple[bool, str, bool, int], type[Operation]] = {}  # by (public, status, stream, fact)


def _operation(
    *,
    public: bool,
    success: str,
    content: dict[str, OpenAPIMediaType] | None,
    more_content: dict[str, OpenAPIMediaType],
    body: RequestBody | None,
) -> type[Operation]:
    """Litestar's Operation with what the route's annotations cannot say applied as it is built."""

    def finish(operation: Operation) -> None:
        if public:
            operation.security = []  # the document's default is the bearer token
        response = (operation.responses or {}).get(success)
        if isinstance(response, OpenAPIResponse):
            if content is not None:
                response.content = dict(content)
            if more_content:
                response.content = {**(response.content or {}), **more_content}
        if body is not None:
            operation.request_body = body

    return dataclasses.dataclass(type("DocumentedOperation", (Operation,), {"__post_init__": finish}))


class ClosedStructs(OpenAPISchemaPlugin):
    """Structs with `forbid_unknown_fields` (every body: `CamelStruct`) get `additionalProperties: false`, and the
    constraints of their lists' string items (which Litestar leaves out) are kept."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return (
            not field_definition.is_union
            and field_definition.is_subclass_of(msgspec.Struct)
            and msgspec.inspect.type_info(field_definition.annotation).forbid_unknown_fields  # type: ignore[union-attr]
        )

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        builtin = next(
            plugin
            for plugin in schema_creator.plugins
            if plugin is not self and schema_creator.plugin_supports_field(plugin, field_definition)
        )
        schema: Schema = builtin.to_openapi_schema(field_definition=field_definition, schema_creator=schema_creator)
        schema.additional_properties = False
        info = msgspec.inspect.type_info(field_definition.annotation)
        for field in info.fields:  # type: ignore[union-attr]
            items = _string_items(field.type)
            if items is not None and schema.properties and field.encode_name in schema.properties:
                _constrain_items(schema.properties[field.encode_name], items)
        return schema


def _string_items(kind: msgspec.inspect.Type) -> msgspec.inspect.StrType | None:
    """The constrained string type of a list field's items (through `| None`, `| UNSET` and annotations), if any."""
    kinds = kind.types if isinstance(kind, msgspec.inspect.UnionType) else (kind,)
    for member in kinds:
        inner = member.type if isinstance(member, msgspec.inspect.Metadata) else member
        if isinstance(inner, msgspec.inspect.ListType) and isinstance(inner.item_type, msgspec.inspect.StrType):
            return inner.item_type
    return None


def _constrain_items(schema: Any, items: msgspec.inspect.StrType) -> None:
    targets: list[Any] = [schema, *(schema.one_of or [])] if isinstance(schema, Schema) else []
    for target in targets:
        if isinstance(target, Schema) and isinstance(target.items, Schema):
            target.items.pattern = items.pattern
            target.items.min_length = items.min_length
            target.items.max_length = items.max_length
