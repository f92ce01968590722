"""`create_app()`: the only place where plugins, auth, lifespan and routers are wired together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from uuid import UUID

from advanced_alchemy.exceptions import DuplicateKeyError, ForeignKeyError, IntegrityError, NotFoundError
from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Litestar
from litestar.datastructures import State
from litestar.exceptions import ValidationException
from litestar.logging import LoggingConfig
from litestar.logging.config import default_handlers
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.types import ControllerRouterHandler
from sqlalchemy.exc import SQLAlchemyError

from ventanilla import __version__
from ventanilla.alerts.controllers import ShipmentEventController
from ventanilla.api_keys.controllers import ApiKeyController
from ventanilla.assignment.assigner import Assigner, AssignmentPolicy
from ventanilla.assignment.controllers import AvailabilityController
from ventanilla.audit.controllers import ToolCallController
from ventanilla.auth.controllers import AuthController, UserController
from ventanilla.auth.csrf import JsonBodyOnlyMiddleware, SameOriginMiddleware
from ventanilla.auth.jwt import TOKEN_COOKIE, build_jwt_auth
from ventanilla.auth.throttle import LoginThrottle
from ventanilla.bot import Bot
from ventanilla.canned.controllers import GlobalCannedResponseController, PointCannedResponseController
from ventanilla.cluster.commands import CommandPolicy, NoOwnerError, PointCommands
from ventanilla.cluster.controllers import ClusterController
from ventanilla.cluster.leases import CLUSTER_CHANNEL, LeasePolicy, PointLeases, on_cluster_news
from ventanilla.cluster.notify import NotifyHub
from ventanilla.config import Settings, load_settings
from ventanilla.db.session import SessionFactory, build_alchemy_config
from ventanilla.delivery.feedback import Feedback
from ventanilla.delivery.worker import DeliveryPolicy, DeliveryWorker
from ventanilla.faq.controllers import GlobalFaqController, PointFaqController
from ventanilla.health import HealthController
from ventanilla.http_errors import (
    CLOUD_ERRORS,
    MEDIA_ERROR_STATUS,
    cloud_error_handler,
    database_error_handler,
    log_uncaught,
    media_error_handler,
    no_owner_handler,
    read_input_strictly,
    validation_exception_handler,
)
from ventanilla.inbox.controllers import InboxController, LabelController
from ventanilla.lifecycle.auto_resolve import AutoResolvePolicy, AutoResolver
from ventanilla.live.controllers import LiveController, LiveStreams
from ventanilla.live.publisher import LivePublisher, build_channels
from ventanilla.media.controllers import MediaController
from ventanilla.media.downloads import DownloadPolicy, MediaDownloader
from ventanilla.media.errors import MediaError
from ventanilla.media.retention import MediaRetention
from ventanilla.media.storage import MediaStorage
from ventanilla.metrics import Metrics, MetricsController
from ventanilla.openapi import ClosedStructs, DocumentedErrors
from ventanilla.pipeline import ARRIVALS_CHANNEL, Arrival, InboundPipeline, Outcome, PipelinePolicy
from ventanilla.privacy import RedactPrivate
from ventanilla.quarantine.controllers import QuarantineController
from ventanilla.reports.controllers import ReportController
from ventanilla.secret_box import SecretBox
from ventanilla.service_points.controllers import MemberController, ServicePointController
from ventanilla.shipments.controllers import ShipmentController
from ventanilla.web import build_web_router, template_config
from ventanilla.webhooks.controllers import WebhookController
from ventanilla.webhooks.dispatcher import WebhookDispatcher, WebhookPolicy
from ventanilla.webhooks.outbox import Subscriptions
from ventanilla.webhooks.targets import TargetPolicy
from ventanilla.whatsapp.cloud.controllers import CloudAccountController, CloudWebhookController
from ventanilla.whatsapp.cloud.transport import CloudTransport
from ventanilla.whatsapp.cloud.webhook import CloudWebhook
from ventanilla.whatsapp.commands import KNOWN_ERRORS, AnyCommand, PointSessions
from ventanilla.whatsapp.controllers import WhatsappController, WhatsappStatusController
from ventanilla.whatsapp.credentials import CredentialStore
from ventanilla.whatsapp.manager import SessionManager, SessionPolicy
from ventanilla.whatsapp.routing import PointTransports
from ventanilla.whatsapp.simulator import SimulatorTransport
from ventanilla.whatsapp.simulator_controllers import SimulatorController
from ventanilla.whatsapp.transport import ChatEvent, DeliveryFailed, Reaction, Receipt, Transport


def _web_transport(settings: Settings, policy: SessionPolicy, sessions: SessionFactory) -> Transport:
    """What `web` points use (WHATSAPP_TRANSPORT); `cloud` points always use the Cloud API."""
    if settings.whatsapp_transport == "simulator":
        return SimulatorTransport(sessions, qr_seconds=(policy.qr_first_seconds, policy.qr_next_seconds))
    from ventanilla.whatsapp.neonize import NeonizeTransport  # the only importer of neonize, loaded on demand

    in_postgres = settings.whatsapp_session_store == "postgres"
    return NeonizeTransport(session_database_url=settings.require_database_url() if in_postgres else None)


def _resume_if_ours(pipeline: InboundPipeline, leases: PointLeases, payload: str) -> None:
    """Another replica stored messages of a point (Meta's webhook reached it): answer them if the point is ours."""
    try:
        point_id = UUID(payload)
    except ValueError:
        return
    if leases.holds(point_id):
        pipeline.resume_point(point_id)


# Raised by services for bad requests and mapped to 404/409 by advanced-alchemy: no stack trace in the log.
EXPECTED_REPOSITORY_ERRORS = (NotFoundError, DuplicateKeyError, IntegrityError, ForeignKeyError)


def create_app(
    settings: Settings | None = None,
    *,
    session_policy: SessionPolicy | None = None,
    pipeline_policy: PipelinePolicy | None = None,
    delivery_policy: DeliveryPolicy | None = None,
    download_policy: DownloadPolicy | None = None,
    assignment_policy: AssignmentPolicy | None = None,
    auto_resolve_policy: AutoResolvePolicy | None = None,
    lease_policy: LeasePolicy | None = None,
    command_policy: CommandPolicy | None = None,
    webhook_policy: WebhookPolicy | None = None,
) -> Litestar:
    """The whole application. The policies default to production timings; tests shorten them."""
    settings = settings or load_settings()
    hub = NotifyHub(settings.require_database_url())  # the other replicas: commands, live events, cluster news
    channels = build_channels()
    publish = LivePublisher(channels, hub, origin=settings.replica_id)
    subscriptions = Subscriptions()  # the enabled webhooks, read by every commit that carries live events
    pool = settings.database_pool_size
    session_info = publish.session_info() | subscriptions.session_info()
    alchemy = build_alchemy_config(
        settings.require_database_url(), session_info=session_info, pool_size=pool, max_overflow=pool // 3
    )
    jwt_auth = build_jwt_auth(settings.jwt_secret, alchemy, secure_cookie=settings.environment == "production")
    leases = PointLeases(alchemy.get_session, settings.replica_id, lease_policy, notify=hub.notify)
    publish.peers = leases.has_peers  # relay live events only while another replica is alive
    hub.listen(CLUSTER_CHANNEL, on_cluster_news(leases))
    session_policy = session_policy or SessionPolicy()
    secret_box = SecretBox(settings.secret_keys)
    web = _web_transport(settings, session_policy, alchemy.get_session)
    cloud = CloudTransport(
        alchemy.get_session, secret_box, settings.whatsapp_cloud_api_base, settings.whatsapp_cloud_proxy
    )
    transport = PointTransports(web, cloud, alchemy.get_session)
    pipeline_policy = pipeline_policy or PipelinePolicy()
    bot = Bot(settings, alchemy.get_session, max_parallel=pipeline_policy.concurrency)
    credentials = CredentialStore(settings.auth_sessions_dir)

    async def receive(point_id: UUID, event: ChatEvent, *, answer: bool = True) -> object:
        """What a chat brings: stored (or applied), then answered here unless `answer` is False."""
        if isinstance(event, Receipt | Reaction | DeliveryFailed):
            return await feedback.apply(point_id, event)
        arrival = await pipeline.receive(point_id, event, answer=answer)  # bound below: sockets -> pipeline -> outbox
        if event.media is not None and arrival.stored is not None:
            downloads.notify()  # its file is PENDING: fetch it now rather than at the next sweep
        return arrival

    async def receive_from_meta(point_id: UUID, event: ChatEvent) -> object:
        """Meta's webhook reaches any replica: the point's owner answers (told by NOTIFY when it is another one)."""
        ours = leases.holds(point_id)
        arrival = await receive(point_id, event, answer=ours)
        if not ours and isinstance(arrival, Arrival) and arrival.outcome is Outcome.STORED:
            hub.notify(ARRIVALS_CHANNEL, str(point_id))
        return arrival

    sessions = SessionManager(transport, credentials, alchemy.get_session, receive, publish, leases, session_policy)
    simulator = web if isinstance(web, SimulatorTransport) else None
    point_sessions = PointSessions(sessions, alchemy.get_session, simulator)
    commands = PointCommands(
        alchemy.get_session, leases, hub, AnyCommand, point_sessions.handle, KNOWN_ERRORS, command_policy
    )
    point_sessions.bind(commands)
    metrics = Metrics()
    metrics.watch_replica(settings.replica_id, lambda: len(leases.held()))
    feedback = Feedback(alchemy.get_session, metrics)
    delivery_policy = replace(delivery_policy or DeliveryPolicy(), max_wait_hours=settings.outbox_max_wait_hours)
    media = MediaStorage(settings.media_path)
    delivery = DeliveryWorker(alchemy.get_session, sessions, metrics, delivery_policy, files=media)
    pipeline = InboundPipeline(
        alchemy.get_session,
        bot,
        delivery.notify,
        metrics,
        settings.data_dir / "journal",
        pipeline_policy,
        daily_model_calls=settings.bot_daily_model_calls if settings.openai_api_key else None,  # offline: free
        media_dir=settings.media_path,  # the bot reads photos and voice notes from there
        owned=leases.held,  # with several replicas, each answers the points it owns
    )
    leases.watch(pipeline.resume_point)
    hub.listen(ARRIVALS_CHANNEL, lambda payload: _resume_if_ours(pipeline, leases, payload))
    downloads = MediaDownloader(
        alchemy.get_session,
        sessions,
        media,
        metrics,
        max_bytes=settings.media_max_bytes,
        settled=pipeline.media_settled,  # a photo's or a voice note's bot turn waits for its file
        policy=download_policy,
    )
    retention = MediaRetention(alchemy.get_session, media, metrics, settings.media_retention_days)
    auto_resolver = AutoResolver(alchemy.get_session, delivery.notify, auto_resolve_policy)
    assigner = Assigner(alchemy.get_session, assignment_policy)
    webhook_targets = TargetPolicy(settings.webhook_allowed_networks)
    webhooks = WebhookDispatcher(alchemy.get_session, subscriptions, secret_box, webhook_targets, webhook_policy)

    @asynccontextmanager
    async def run_workers(_: Litestar) -> AsyncIterator[None]:
        """Start: resume unanswered messages, deliver, then take our points and open their sockets. Stop in
        reverse, each step bounded; our points are handed over once their sockets are closed."""
        await hub.start()
        await pipeline.start()
        delivery.start()
        downloads.start()
        retention.start()
        auto_resolver.start()
        assigner.start()
        webhooks.start()
        await sessions.start()
        commands.start()
        await leases.start()
        try:
            yield
        finally:
            leases.draining = True  # /ready says so from now on
            await webhooks.stop()
            await assigner.stop()
            await auto_resolver.stop()
            await retention.stop()
            await downloads.stop()  # before the pipeline: its last files hand their messages to the bot
            await pipeline.stop()
            await delivery.stop()
            await commands.stop()
            await leases.stop()  # sockets closed, then the points are free for the other replicas at once
            await sessions.stop()
            await feedback.stop()
            await bot.close()
            await hub.stop()

    route_handlers: list[ControllerRouterHandler] = [
        HealthController,
        AuthController,
        UserController,
        ServicePointController,
        MemberController,
        ShipmentController,
        ShipmentEventController,
        PointFaqController,
        GlobalFaqController,
        PointCannedResponseController,
        GlobalCannedResponseController,
        WhatsappController,
        WhatsappStatusController,
        LiveController,
        AvailabilityController,
        InboxController,
        LabelController,
        MetricsController,
        ToolCallController,
        QuarantineController,
        MediaController,
        ReportController,
        ClusterController,
        ApiKeyController,
        WebhookController,
        CloudAccountController,
        CloudWebhookController,
        build_web_router(),
    ]
    state = {"settings": settings, "jwt_auth": jwt_auth, "login_throttle": LoginThrottle()}
    state["live_streams"] = LiveStreams()
    state["live_publisher"] = publish
    state["webhook_subscriptions"] = subscriptions
    state.update(sessions=point_sessions, delivery=delivery, media=media, media_downloads=downloads, leases=leases)
    state.update(secret_box=secret_box, cloud=cloud, cloud_webhook=CloudWebhook(secret_box, receive_from_meta))
    if simulator is not None:
        route_handlers.append(SimulatorController)
        state["simulator"] = simulator
    return Litestar(
        route_handlers=route_handlers,
        plugins=[
            SQLAlchemyPlugin(config=alchemy),
            channels,
            DocumentedErrors(jwt_auth.exclude, jwt_auth.exclude_opt_key),
            ClosedStructs(),
        ],
        lifespan=[run_workers],
        on_app_init=[jwt_auth.on_app_init],
        middleware=[SameOriginMiddleware(TOKEN_COOKIE), JsonBodyOnlyMiddleware()],
        before_request=read_input_strictly,
        exception_handlers={
            ValidationException: validation_exception_handler,
            SQLAlchemyError: database_error_handler,
            MediaError: media_error_handler,
            NoOwnerError: no_owner_handler,
            **dict.fromkeys(CLOUD_ERRORS, cloud_error_handler),
        },
        template_config=template_config(),
        state=State(state),
        openapi_config=OpenAPIConfig(
            title="Ventanilla API",
            version=__version__,
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        ),
        logging_config=LoggingConfig(
            root={"level": settings.log_level, "handlers": ["queue_listener"]},
            # httpx logs every request's URL at INFO: one line per webhook delivery, and URLs may carry tokens
            loggers={
                "litestar": {"level": "INFO", "handlers": ["queue_listener"], "propagate": False},
                "httpx": {"level": "WARNING"},
            },
            filters={"redact_private": {"()": RedactPrivate}},
            handlers={name: {**spec, "filters": ["redact_private"]} for name, spec in default_handlers.items()},
            log_exceptions="always",
            exception_logging_handler=log_uncaught,
            disable_stack_trace={
                *(400, 401, 403, 404, 405, 409, 410, 413, 415, 422, 429),
                *EXPECTED_REPOSITORY_ERRORS,
                *MEDIA_ERROR_STATUS,
                NoOwnerError,  # a point changing hands between replicas: the client tries again
                *CLOUD_ERRORS,
            },
        ),
    )
