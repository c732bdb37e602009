"""The embedded MQTT broker of `gito up` (amqtt), with per-device auth and topic ACLs.

What amqtt 0.12 is, measured and read from its source (so callers do not have to find out):

* MQTT 3.1.1 only. A bare MQTT 5 CONNECT gets CONNACK 0x01 (unacceptable protocol version),
  but one carrying properties (gmqtt's) leaves amqtt waiting for bytes that never come, so
  the client hangs instead of falling back: connect with 3.1.1 (gmqtt: `version=MQTTv311`).
* No shared subscriptions: a `$share/gito/...` filter would be accepted and then never match
  anything, silently losing data. This broker refuses it (SUBACK 0x80) instead, so a
  processor notices; use the plain filters here
  (`gito.broker.shared_subscriptions_supported(settings)` tells which to use).
* A refused PUBLISH is dropped silently (MQTT 3.1.1 has no way to say no); QoS 1 is still
  acknowledged. The connection stays open. Refusals are counted and logged.
* Stock amqtt handles a CONNECT's client id *before* authenticating it: a client with a wrong
  password but a victim's client id wipes the victim's session (its subscriptions), and an
  authenticated client can take over another identity's session. `_GitoBroker` authenticates
  first and refuses a client id held by another identity.
* Will messages are broadcast without a topic check, so a will topic is checked at connect.
* Throughput (`python -m gito.broker.bench`, 2 cores, publisher, broker and subscriber in one
  process): about 3k QoS-1 msg/s (2.8k-4.3k over runs), like stock amqtt, against ~14.5k for
  Mosquitto (DESIGN §5a): small fleets and demos; production uses Mosquitto.

Revocation bound (`MQTT_AUTH_CACHE_TTL_S`, default 30 s): a rotated token, a deleted device or
a deactivated tenant is refused on connect at most that long after the change (positive cache
TTL), and every that-many seconds the connected devices are re-checked in one query and a
revoked one is disconnected — Mosquitto's dynsec disconnects at once on rotate/delete."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import structlog
from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.errors import AMQTTError, MQTTError, NoDataError
from amqtt.mqtt.connack import NOT_AUTHORIZED, ConnackPacket
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.utils import format_client_message
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gito.broker import metrics
from gito.broker.auth import AuthRefused, DeviceAuthenticator, Identity
from gito.broker.credentials import service_credentials
from gito.config import Settings

log = structlog.get_logger("gito.broker")


class _Guard:
    """The broker's auth state: who each client id is, and what it may do."""

    def __init__(self, authenticator: DeviceAuthenticator) -> None:
        self.authenticator = authenticator
        # client id → the identity that authenticated it. Kept while amqtt keeps the session
        # (persistent sessions outlive their connection) so receive checks still apply.
        self.identities: dict[str, Identity] = {}
        self.broker: _GitoBroker | None = None

    async def pre_authenticate(self, session: Any) -> bool:
        """Decide a CONNECT before the broker touches any session state."""
        peer = f"{session.remote_address}:{session.remote_port}"
        try:
            identity = await self.authenticator.authenticate(session.username, session.password)
            if session.will_flag and not identity.may_publish(session.will_topic or ""):
                raise AuthRefused("will_topic", f"will topic {session.will_topic!r} not allowed")
            if self._held_by_other(session.client_id, identity):
                raise AuthRefused("client_id_in_use", "client id belongs to another identity")
        except AuthRefused as refused:
            metrics.CONNECT_REFUSED.labels(refused.reason).inc()
            log.info(
                "mqtt connect refused",
                reason=refused.reason,
                detail=str(refused),
                username=session.username,
                client_id=session.client_id,
                peer=peer,
            )
            return False
        self.identities[session.client_id] = identity
        return True

    def _held_by_other(self, client_id: str, identity: Identity) -> bool:
        """Whether `client_id` names a live session of another identity: connected, or
        persistent (its subscriptions and queued messages would pass to the newcomer)."""
        holder = self.identities.get(client_id)
        if holder is None or holder.username == identity.username or self.broker is None:
            return False
        entry = self.broker.sessions.get(client_id)
        if entry is None:
            return False
        session = entry[0]
        return bool(session.transitions.is_connected() or not session.clean_session)

    def identity(self, session: Any) -> Identity | None:
        identity = self.identities.get(session.client_id) if session is not None else None
        if identity is None or identity.username != session.username:
            return None
        return identity

    def allowed(self, session: Any, topic: str | None, action: Action) -> bool:
        identity = self.identity(session)
        if identity is None or not topic:
            return False
        kind = "service" if identity.is_service else "device"
        if action == Action.PUBLISH:
            if identity.may_publish(topic):
                return True
            metrics.PUBLISH_REFUSED.labels(kind).inc()
            log.info("mqtt publish refused", username=identity.username, topic=topic)
            return False
        if action == Action.SUBSCRIBE:
            if identity.may_subscribe(topic):
                return True
            metrics.SUBSCRIBE_REFUSED.labels(kind).inc()
            hint = (
                "this broker has no shared subscriptions; subscribe without $share/"
                if topic.startswith("$share/")
                else None
            )
            log.info("mqtt subscribe refused", username=identity.username, topic=topic, hint=hint)
            return False
        # RECEIVE runs once per subscriber per message; a cheap check, no logging.
        return identity.may_receive(topic)

    async def sweep(self) -> int:
        """Close the connections of devices whose credential no longer holds; forget the
        identities of sessions amqtt dropped. Returns how many connections were closed."""
        broker = self.broker
        if broker is None:
            return 0
        sessions = broker.sessions
        for client_id in [c for c in self.identities if c not in sessions]:
            del self.identities[client_id]
        connected = {
            client_id: identity
            for client_id, identity in self.identities.items()
            if not identity.is_service and sessions[client_id][0].transitions.is_connected()
        }
        if not connected:
            return 0
        valid = await self.authenticator.still_valid(connected.values())
        closed = 0
        for client_id, identity in connected.items():
            if identity in valid:
                continue
            entry = sessions.get(client_id)
            self.identities.pop(client_id, None)
            if entry is None:
                continue
            session, handler = entry
            # A revoked device's last will is not its to send any more.
            session.will_flag = False
            await handler.handle_connection_closed()
            metrics.SESSIONS_REVOKED.inc()
            log.info("mqtt connection revoked", username=identity.username, client_id=client_id)
            closed += 1
        return closed


class GitoAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """amqtt's auth hook. The decision was taken in `_GitoBroker._initialize_client_session`
    (before any session side effect); this confirms it for amqtt's own connect path."""

    @dataclass
    class Config:
        guard: Any = None

    async def authenticate(self, *, session: Any) -> bool:
        guard: _Guard = self.config.guard
        return guard.identity(session) is not None or await guard.pre_authenticate(session)


class _GitoBroker(Broker):  # type: ignore[misc]
    """amqtt's broker with authentication moved ahead of the session table (see the module
    docstring). The part after the pre-authentication mirrors amqtt 0.12.1's
    `Broker._initialize_client_session`; pyproject pins amqtt below 0.13 for that reason,
    and tests/broker/test_embedded.py proves the take-over is refused."""

    guard: _Guard

    async def _topic_filtering(self, session: Any, topic: str, action: Action) -> bool:
        # Straight to the guard: amqtt's plugin dispatch wraps every check in a task and a
        # gather, which on the PUBLISH and per-subscriber RECEIVE checks halved throughput
        # (measured with gito.broker.bench: ~1.5k → ~3k QoS-1 msg/s).
        return self.guard.allowed(session, topic, action)

    async def _initialize_client_session(
        self, reader: Any, writer: Any, remote_address: str, remote_port: int
    ) -> tuple[Any, Any]:
        peer = format_client_message(address=remote_address, port=remote_port)
        try:
            handler, client_session = await BrokerProtocolHandler.init_from_connect(
                reader, writer, self.plugins_manager
            )
        except MQTTError as exc:
            await writer.close()
            raise MQTTError(exc) from exc
        except (AMQTTError, NoDataError) as exc:
            self.logger.warning(f"{peer}: can't read first packet as CONNECT: {exc}")
            raise AMQTTError(exc) from exc

        # (An empty client id was already replaced by a random one, and refused without a
        # clean session, inside init_from_connect.)
        if not await self.guard.pre_authenticate(client_session):
            await ConnackPacket.build(0, NOT_AUTHORIZED).to_stream(writer)
            await writer.close()
            raise AMQTTError(f"{peer}: not authorised")

        # --- from here on: amqtt 0.12.1's session handling, unchanged ---
        if client_session.clean_session:
            await self._delete_session(client_session.client_id)
            client_session.parent = 0
        elif client_session.client_id in self._sessions:
            existing, _ = self._sessions[client_session.client_id]
            existing.will_flag = client_session.will_flag
            existing.will_message = client_session.will_message
            existing.will_topic = client_session.will_topic
            existing.will_qos = client_session.will_qos
            existing.keep_alive = client_session.keep_alive
            existing.username = client_session.username
            existing.password = client_session.password
            client_session = existing
            client_session.parent = 1
        else:
            client_session.parent = 0

        timeout_disconnect_delay = self.config.get("timeout-disconnect-delay", 0)
        if client_session.keep_alive > 0 and isinstance(timeout_disconnect_delay, int):
            client_session.keep_alive += timeout_disconnect_delay
        return handler, client_session


@dataclass
class EmbeddedBroker:
    """A running embedded broker; `await stop()` closes it and its background task."""

    host: str
    port: int
    guard: _Guard
    _broker: _GitoBroker
    _sweeper: asyncio.Task[None]
    _engine: AsyncEngine | None = None

    @property
    def connected_clients(self) -> int:
        return sum(1 for s, _ in self._broker.sessions.values() if s.transitions.is_connected())

    async def stop(self) -> None:
        self._sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._sweeper
        await self._broker.shutdown()
        if self._engine is not None:
            await self._engine.dispose()
        log.info("embedded mqtt broker stopped", port=self.port)


async def start_embedded_broker(
    settings: Settings, *, sessions: async_sessionmaker[AsyncSession] | None = None
) -> EmbeddedBroker:
    """Start the broker on `MQTT_EMBEDDED_BIND_HOST:MQTT_BROKER_PORT` in the running loop.

    `sessions` defaults to the app's engine when `init_engine` ran in this process, else an
    own small engine on `DATABASE_URL` (closed by `stop()`)."""
    from gito.db import engine as db

    own_engine = None
    if sessions is None:
        try:
            sessions = db.sessionmaker()
        except RuntimeError:
            if not settings.database_url:
                raise RuntimeError("the embedded broker needs DATABASE_URL") from None
            own_engine = db.create_app_engine(settings.database_url, pool_size=2)
            sessions = async_sessionmaker(own_engine, expire_on_commit=False)
    guard = _Guard(
        DeviceAuthenticator(
            sessions,
            service_credentials(settings),
            ttl_s=settings.mqtt_auth_cache_ttl_s,
            max_entries=settings.mqtt_auth_cache_size,
        )
    )
    host, port = settings.mqtt_embedded_bind_host, settings.mqtt_broker_port
    # amqtt logs every connection at INFO; our refusal log lines and counters say what matters.
    if logging.getLogger("amqtt").level == logging.NOTSET:
        logging.getLogger("amqtt").setLevel(logging.WARNING)
    broker = _GitoBroker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
            # Only our plugins: amqtt's defaults include anonymous access and $SYS topics.
            "plugins": {
                f"{__name__}.GitoAuthPlugin": {"guard": guard},
            },
        }
    )
    broker.guard = guard
    guard.broker = broker
    try:
        await broker.start()
    except BaseException:
        if own_engine is not None:
            await own_engine.dispose()
        raise
    sweeper = asyncio.create_task(_sweep_forever(guard, settings.mqtt_auth_cache_ttl_s))
    log.info("embedded mqtt broker started", host=host, port=port)
    return EmbeddedBroker(host, port, guard, broker, sweeper, own_engine)


async def _sweep_forever(guard: _Guard, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await guard.sweep()
        except Exception as exc:  # the database may be briefly away; try again next round
            log.warning("mqtt credential re-check failed", error=str(exc))
