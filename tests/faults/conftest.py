"""Fault tests: the app with short timings, a scripted model, and the real database going away."""

from __future__ import annotations

import pytest
from litestar import Litestar

from tests.whatsapp.conftest import FAST
from ventanilla.app import create_app
from ventanilla.config import Settings
from ventanilla.delivery.worker import DeliveryPolicy
from ventanilla.pipeline import PipelinePolicy

# Small enough to fill in a test: 8 turns at once, 2 of them never taken by one point.
FAULT_PIPELINE = PipelinePolicy(
    concurrency=8,
    reserve=2,
    customer_turns=3,
    customer_window_seconds=60,
    sweep_seconds=0.5,
    stale_seconds=0.5,
    replay_seconds=0.2,
    store_retry_seconds=0.5,
)
FAULT_DELIVERY = DeliveryPolicy(poll_seconds=0.05, retry_base_seconds=0.05, retry_max_seconds=0.2, max_attempts=50)


@pytest.fixture
def app(settings: Settings) -> Litestar:
    """With the offline bot; tests of the model path override it with `with_model`."""
    return create_app(settings, session_policy=FAST, pipeline_policy=FAULT_PIPELINE, delivery_policy=FAULT_DELIVERY)
