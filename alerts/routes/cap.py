"""Route of an order as an OASIS CAP 1.2 document (XML, assembled by alerts/cap.py)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from alerts.cap import cap_document
from floodctl.auth.deps import ConnDep, SettingsDep, ViewerDep

router = APIRouter(prefix="/api/v1", tags=["warnings and orders"])
CAP_MEDIA_TYPE = "application/cap+xml"


@router.get(
    "/orders/{order_id}/cap",
    summary="The order as an OASIS CAP 1.2 document",
    response_class=Response,
    responses={200: {"content": {CAP_MEDIA_TYPE: {}}}},
)
def order_cap(order_id: int, conn: ConnDep, viewer: ViewerDep, settings: SettingsDep) -> Response:
    return Response(cap_document(conn, order_id, settings), media_type=f"{CAP_MEDIA_TYPE}; charset=utf-8")
