"""Bodies of the Cloud API endpoints: a point's number (secrets write-only), its templates, a template send."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from ventanilla.db.models import CloudAccount
from ventanilla.schemas import CamelStruct
from ventanilla.text import bounded

DIGITS_PATTERN = r"^[0-9]{1,32}(?!\n)$"
Digits = Annotated[str, msgspec.Meta(pattern=DIGITS_PATTERN, examples=["106540352242922"])]
Secret = bounded(1024, min_length=8)
TemplateName = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_]{1,512}(?!\n)$", examples=["aviso_envio"])]
TemplateLanguage = Annotated[str, msgspec.Meta(pattern=r"^[a-z]{2,3}(_[A-Z]{2})?(?!\n)$", examples=["es_MX"])]
MAX_TEMPLATE_PARAMETERS = 20


class AlertTemplateRef(CamelStruct):
    """The approved template shipment alerts are sent as outside the 24-hour window: {{1}} tracking number,
    {{2}} the new status."""

    name: TemplateName
    language: TemplateLanguage


class CloudAccountPut(CamelStruct):
    """The number as Meta's app shows it. The secrets are required the first time and may be left out later
    (kept); they are never returned."""

    phone_number_id: Digits
    access_token: Secret | None = None
    app_secret: Secret | None = None
    verify_token: Secret | None = None
    business_account_id: Digits | None = None  # the WhatsApp Business Account, for the template list
    alert_template: AlertTemplateRef | None = None


class CloudAccountRead(CamelStruct):
    phone_number_id: str
    business_account_id: str | None
    alert_template: AlertTemplateRef | None
    webhook_path: str  # what to enter in Meta's app, after this server's public address
    updated_at: datetime

    @classmethod
    def of(cls, account: CloudAccount, webhook_path: str) -> CloudAccountRead:
        template = None
        if account.alert_template_name and account.alert_template_language:
            template = AlertTemplateRef(name=account.alert_template_name, language=account.alert_template_language)
        return cls(
            phone_number_id=account.phone_number_id,
            business_account_id=account.business_account_id,
            alert_template=template,
            webhook_path=webhook_path,
            updated_at=account.updated_at,
        )


class TemplateRead(CamelStruct):
    name: str
    language: str
    status: str
    category: str | None
    body: str  # with {{1}}, {{2}}... where the parameters go
    parameter_count: int


class TemplateSendRequest(CamelStruct):
    name: TemplateName
    language: TemplateLanguage
    parameters: Annotated[list[bounded(1024, min_length=1)], msgspec.Meta(max_length=MAX_TEMPLATE_PARAMETERS)] = []
