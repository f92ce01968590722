"""Jinja for the pages: autoescaped, strict about missing names, and aware of the Spanish words the pages show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar import Request
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.status_codes import HTTP_200_OK
from litestar.template import TemplateConfig

from ventanilla import __version__
from ventanilla.db.models import SHIPMENT_STATUS_LABELS, ConversationStatus, MemberRole, ShipmentStatus, WhatsappStatus

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

WHATSAPP_LABELS = {
    WhatsappStatus.CONNECTED: "Conectado",
    WhatsappStatus.CONNECTING: "Conectando",
    WhatsappStatus.DISCONNECTED: "Desconectado",
}
ROLE_LABELS = {MemberRole.SUPERVISOR: "Supervisor", MemberRole.AGENT: "Agente"}
CONVERSATION_LABELS = {ConversationStatus.BOT: "Bot", ConversationStatus.HUMAN: "Persona"}


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals.update(
        static=lambda name: f"/static/{name}?v={__version__}",
        shipment_statuses=[(status.value, SHIPMENT_STATUS_LABELS[status]) for status in ShipmentStatus],
        roles=[(role.value, ROLE_LABELS[role]) for role in MemberRole],
    )
    environment.filters.update(
        whatsapp_label=lambda status: WHATSAPP_LABELS[WhatsappStatus(status)],
        shipment_label=lambda status: SHIPMENT_STATUS_LABELS[ShipmentStatus(status)],
        role_label=lambda role: ROLE_LABELS[MemberRole(role)],
        iso=lambda moment: moment.isoformat() if moment else "",
    )
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


def page(request: Request[Any, Any, Any], template: str, *, status_code: int = HTTP_200_OK, **context: Any) -> Template:
    """A page with what every layout needs: the user (None on public pages) and whether the simulator runs."""
    return Template(
        template_name=template,
        context={
            "me": request.scope.get("user"),
            "simulator": request.app.state.settings.whatsapp_transport == "simulator",
            "section": None,
            "point": None,
            **context,
        },
        status_code=status_code,
    )
