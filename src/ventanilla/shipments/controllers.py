"""Shipments of a service point, under /api/service-points/{spId}/shipments: listing, CRUD and CSV import."""

from __future__ import annotations

from typing import Annotated

from advanced_alchemy.extensions.litestar.providers import create_service_provider
from litestar import Controller, Request, delete, get, patch, post
from litestar.datastructures import State, UploadFile
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ClientException, ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.security.jwt import Token
from litestar.status_codes import HTTP_200_OK, HTTP_415_UNSUPPORTED_MEDIA_TYPE

from ventanilla.auth.guards import requires_point_member
from ventanilla.db.models import ServicePoint, ShipmentStatus, User
from ventanilla.pagination import decode_cursor, encode_cursor
from ventanilla.service_points.dependencies import provide_service_point
from ventanilla.shipments.csv_import import MAX_IMPORT_BYTES, parse_shipments_csv
from ventanilla.shipments.schemas import (
    ImportResult,
    ShipmentCreate,
    ShipmentCursor,
    ShipmentPage,
    ShipmentRead,
    ShipmentUpdate,
    canonical_tracking_number,
)
from ventanilla.shipments.services import ShipmentService

TRACKING_PATH = "/{tracking_number:str}"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
CSV_MEDIA_TYPES = {"text/csv", "application/csv", "text/plain", "application/vnd.ms-excel"}
UPLOAD_FIELD = "file"


async def _uploaded_csv(request: Request[User, Token, State]) -> bytes:
    """The file's bytes, sent either as the raw body (text/csv) or as the `file` field of a multipart form."""
    try:
        return await _read_upload(request)
    except RequestEntityTooLarge:
        limit = f"{MAX_IMPORT_BYTES // 2**20} MiB"
        raise RequestEntityTooLarge(detail=f"the file may be at most {limit}; split it into several") from None


async def _read_upload(request: Request[User, Token, State]) -> bytes:
    media_type = request.content_type[0]
    if media_type in CSV_MEDIA_TYPES:
        return await request.body()
    if media_type == "multipart/form-data":
        upload = (await request.form()).get(UPLOAD_FIELD)
        if not isinstance(upload, UploadFile):
            message = f"attach the CSV as the form field '{UPLOAD_FIELD}'"
            raise ValidationException(detail=message, extra=[{"key": UPLOAD_FIELD, "message": message}])
        return await upload.read()
    raise ClientException(
        detail=f"send the file as text/csv or as multipart/form-data, not {media_type or 'no Content-Type'}",
        status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    )


class ShipmentController(Controller):
    path = "/api/service-points/{sp_id:uuid}/shipments"
    tags = ["shipments"]
    guards = [requires_point_member]
    dependencies = {
        "shipments": Provide(create_service_provider(ShipmentService)),
        "service_point": Provide(provide_service_point),
    }

    @get(
        "/",
        summary="The point's shipments, in tracking-number order, a page at a time",
        opt={"scope": "shipments:read"},
    )
    async def list_shipments(
        self,
        service_point: NamedDependency[ServicePoint],
        shipments: NamedDependency[ShipmentService],
        status: FromQuery[ShipmentStatus | None] = None,
        q: Annotated[
            str | None, QueryParameter(max_length=120, description="tracking number prefix or part of the destination")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
        cursor: Annotated[
            str | None, QueryParameter(max_length=200, description="nextCursor of the previous page")
        ] = None,
    ) -> ShipmentPage:
        after = decode_cursor(cursor, ShipmentCursor).tracking_number if cursor else None
        items, more = await shipments.list_page(service_point.id, limit=limit, after=after, status=status, q=q)
        next_cursor = encode_cursor(ShipmentCursor(items[-1].tracking_number)) if more else None
        return ShipmentPage(items=[ShipmentRead.of(s) for s in items], next_cursor=next_cursor)

    @post(
        "/",
        summary="Register a shipment at this point (409 if the number exists anywhere)",
        opt={"scope": "shipments:write"},
    )
    async def create_shipment(
        self,
        data: JSONBody[ShipmentCreate],
        service_point: NamedDependency[ServicePoint],
        shipments: NamedDependency[ShipmentService],
    ) -> ShipmentRead:
        return ShipmentRead.of(await shipments.create_shipment(service_point.id, data))

    @post(
        "/import",
        status_code=HTTP_200_OK,
        request_max_body_size=MAX_IMPORT_BYTES,
        summary="Create or update many shipments from a CSV file, all or nothing",
        opt={"scope": "shipments:write"},
        description="Body: the file as text/csv, or multipart/form-data with the field `file`. "
        "See docs/shipments-and-faqs.md for the columns.",
    )
    async def import_shipments(
        self,
        request: Request[User, Token, State],
        service_point: NamedDependency[ServicePoint],
        shipments: NamedDependency[ShipmentService],
    ) -> ImportResult:
        parsed = parse_shipments_csv(await _uploaded_csv(request))
        created, updated = await shipments.import_file(service_point.id, parsed)
        return ImportResult(created=created, updated=updated)

    @get(TRACKING_PATH, summary="One shipment of the point", opt={"scope": "shipments:read"})
    async def get_shipment(
        self,
        tracking_number: FromPath[str],
        service_point: NamedDependency[ServicePoint],
        shipments: NamedDependency[ShipmentService],
    ) -> ShipmentRead:
        number = canonical_tracking_number(tracking_number, source="path")
        return ShipmentRead.of(await shipments.get_shipment(service_point.id, number))

    @patch(TRACKING_PATH, summary="Change a shipment's status or details", opt={"scope": "shipments:write"})
    async def update_shipment(
        self,
        tracking_number: FromPath[str],
        data: JSONBody[ShipmentUpdate],
        service_point: NamedDependency[ServicePoint],
        shipments: NamedDependency[ShipmentService],
    ) -> ShipmentRead:
        number = canonical_tracking_number(tracking_number, source="path")
        return ShipmentRead.of(await shipments.update_shipment(service_point.id, number, data))

    @delete(TRACKING_PATH, summary="Delete a shipment of the point", opt={"scope": "shipments:write"})
    async def delete_shipment(
        self,
        tracking_number: FromPath[str],
        service_point: NamedDependency[ServicePoint],
        shipments: NamedDependency[ShipmentService],
    ) -> None:
        await shipments.delete_shipment(service_point.id, canonical_tracking_number(tracking_number, source="path"))
