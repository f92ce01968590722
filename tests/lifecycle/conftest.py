"""The app with short timers for the lifecycle tests: the auto-resolve round runs every 50 ms."""

from __future__ import annotations

import pytest
from litestar import Litestar

from tests.whatsapp.conftest import FAST
from ventanilla.app import create_app
from ventanilla.config import Settings
from ventanilla.delivery.worker import DeliveryPolicy
from ventanilla.lifecycle.auto_resolve import AutoResolvePolicy
from ventanilla.pipeline import PipelinePolicy

ROUND = AutoResolvePolicy(first_run_seconds=0.05, every_seconds=0.05, batch=2)  # batch 2: several batches a round


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(
        settings,
        session_policy=FAST,
        pipeline_policy=PipelinePolicy(sweep_seconds=0.5, stale_seconds=0.5),
        delivery_policy=DeliveryPolicy(poll_seconds=0.05, retry_base_seconds=0.05, retry_max_seconds=0.1),
        auto_resolve_policy=ROUND,
    )
