"""Mosquitto dynamic-security administration: one client + one role per device.

Every device gets a dynsec client (username = device id, password = its token; Mosquitto keeps
only a salted PBKDF2 hash) and a role `gito-device-<device_id>` whose ACLs allow exactly the
device's own topics (`gito.broker.acl`). Commands go to `$CONTROL/dynamic-security/v1` as JSON
batches; the broker answers every command of a batch, in order, on `.../response`.

gmqtt is the MQTT client because it is the platform's client library already (the processor
uses it): async, small, and it gives the raw publish/subscribe this needs. MQTT 3.1.1 is
enough for the control topic, and avoids gmqtt's MQTT 5 → 3.1.1 downgrade dance."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gmqtt
import orjson
import structlog
from gmqtt.mqtt.constants import MQTTv311
from gmqtt.mqtt.handler import MQTTConnectError
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gito.broker import acl, metrics
from gito.db.engine import enable_platform_scope, set_tenant
from gito.db.models import Device, Tenant
from gito.errors import GitoError

log = structlog.get_logger("gito.broker.dynsec")

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = CONTROL_TOPIC + "/response"
ROLE_PREFIX = "gito-device-"
# Marks the clients Gito manages, so reconcile never touches the admin, service or a
# hand-made client.
TEXTNAME_PREFIX = "gito device"
# Mosquitto rewrites its whole dynsec JSON file after every command message, so a CSV import
# sends few large batches rather than one message per device.
DEVICES_PER_BATCH = 250
# Pages of listClients / listRoles during reconcile.
LIST_PAGE = 1000
# pg advisory lock taken by reconcile: several API workers start at once, one reconciles.
RECONCILE_LOCK_KEY = 0x6769746F_0001


class DynsecError(GitoError):
    """The broker refused a provisioning command; the request fails and rolls back."""

    status_code = 502
    code = "BROKER_PROVISIONING_FAILED"


class BrokerUnavailable(GitoError):
    status_code = 503
    code = "BROKER_UNAVAILABLE"


def role_name(device_id: uuid.UUID | str) -> str:
    return f"{ROLE_PREFIX}{device_id}"


def device_role_acls(tenant_id: uuid.UUID, device_id: uuid.UUID) -> list[dict[str, Any]]:
    acls: list[dict[str, Any]] = [
        {"acltype": "publishClientSend", "topic": topic, "allow": True}
        for topic in acl.device_publish_topics(tenant_id, device_id)
    ]
    for topic in acl.device_subscribe_topics(tenant_id, device_id):
        acls.append({"acltype": "subscribePattern", "topic": topic, "allow": True})
        # The shipped config denies publishClientReceive by default (dynsec-setup.sh), so a
        # client that took over another's session id still receives nothing of it.
        acls.append({"acltype": "publishClientReceive", "topic": topic, "allow": True})
    return acls


def create_role_command(tenant_id: uuid.UUID, device_id: uuid.UUID) -> dict[str, Any]:
    return {
        "command": "createRole",
        "rolename": role_name(device_id),
        "textname": f"{TEXTNAME_PREFIX} role (tenant {tenant_id})",
        "acls": device_role_acls(tenant_id, device_id),
    }


def create_device_commands(
    tenant_id: uuid.UUID, device_id: uuid.UUID, token: str
) -> list[dict[str, Any]]:
    return [
        create_role_command(tenant_id, device_id),
        {
            "command": "createClient",
            "username": str(device_id),
            "password": token,
            "textname": f"{TEXTNAME_PREFIX} (tenant {tenant_id})",
            "roles": [{"rolename": role_name(device_id)}],
        },
    ]


def delete_device_commands(device_id: uuid.UUID | str) -> list[dict[str, Any]]:
    # Client first: Mosquitto 2.0.11 frees a deleted role that a client still holds and keeps
    # the dangling reference (garbage in listClients, then a crash), so a role is only ever
    # deleted once no client has it.
    return [
        {"command": "deleteClient", "username": str(device_id)},
        {"command": "deleteRole", "rolename": role_name(device_id)},
    ]


NOT_FOUND = frozenset({"Client not found", "Role not found"})


class DynsecClient:
    """An admin connection to `$CONTROL/dynamic-security/v1`, opened on first use and again
    after it drops. Batches are matched to their responses by `correlationData`, so concurrent
    requests can share the connection."""

    def __init__(
        self, host: str, port: int, username: str, password: str, *, timeout_s: float
    ) -> None:
        self.host, self.port = host, port
        self._username, self._password = username, password
        self.timeout_s = timeout_s
        self._client: Any = None
        self._lock = asyncio.Lock()
        self._pending: dict[str, asyncio.Future[list[dict[str, Any]]]] = {}

    async def _connected(self) -> Any:
        async with self._lock:
            if self._client is not None and self._client.is_connected:
                return self._client
            await self._drop()
            client = gmqtt.Client(f"gito-dynsec-{uuid.uuid4().hex[:12]}")
            client.set_auth_credentials(self._username, self._password)
            # We reconnect on demand (the next execute); gmqtt's own reconnect would not
            # resubscribe and, once scheduled, reconnects even after disconnect(). gmqtt:
            # -1 = forever, n >= 0 allows n + 1 attempts, below -1 none.
            client.set_config({"reconnect_retries": -2})
            subscribed: asyncio.Future[tuple[int, ...]] = asyncio.get_running_loop().create_future()

            def on_subscribe(_c: Any, _mid: int, qos: tuple[int, ...], _p: Any) -> None:
                if not subscribed.done():
                    subscribed.set_result(qos)

            client.on_message = self._on_message
            client.on_subscribe = on_subscribe
            try:
                async with asyncio.timeout(self.timeout_s):
                    await client.connect(self.host, self.port, version=MQTTv311)
                    client.subscribe(RESPONSE_TOPIC, qos=1)
                    granted = await subscribed
            except (TimeoutError, OSError, MQTTConnectError) as exc:
                with contextlib.suppress(Exception):
                    await client.disconnect()
                raise BrokerUnavailable(
                    f"cannot reach the MQTT broker's dynamic-security API: {exc!r}"
                ) from exc
            if not granted or granted[0] >= 0x80:
                await client.disconnect()
                raise BrokerUnavailable(
                    "the dynsec admin client may not subscribe to the control response topic"
                )
            self._client = client
            return client

    def _on_message(self, _c: Any, topic: str, payload: bytes, _qos: int, _p: Any) -> int:
        if topic != RESPONSE_TOPIC:
            return 0
        try:
            try:
                body = orjson.loads(payload)
            except orjson.JSONDecodeError:
                # Mosquitto 2.0.11 can put invalid UTF-8 into a listing (see
                # delete_device_commands); keep the rest of the answer readable.
                body = orjson.loads(payload.decode("utf-8", "replace"))
            responses = body.get("responses") or []
            batch = str(responses[0].get("correlationData", "")).split(":", 1)[0]
        except (orjson.JSONDecodeError, AttributeError, IndexError) as exc:
            log.warning("unreadable dynsec response", payload=payload[:200], error=repr(exc))
            return 0
        future = self._pending.pop(batch, None)
        if future is not None and not future.done():
            future.set_result(responses)
        return 0

    async def execute(
        self, commands: Sequence[dict[str, Any]], *, tolerate: Collection[str] = ()
    ) -> list[dict[str, Any]]:
        """Run one batch; raise `DynsecError` naming every command that failed with an error
        not in `tolerate` (e.g. "Client not found" for an idempotent delete)."""
        if not commands:
            return []
        client = await self._connected()
        batch = uuid.uuid4().hex
        sent = [{**c, "correlationData": f"{batch}:{i}"} for i, c in enumerate(commands)]
        future: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self._pending[batch] = future
        try:
            client.publish(CONTROL_TOPIC, orjson.dumps({"commands": sent}), qos=1)
            async with asyncio.timeout(self.timeout_s):
                responses = await future
        except TimeoutError:
            await self._drop()
            raise BrokerUnavailable(
                f"the broker did not answer {len(commands)} dynsec command(s) "
                f"within {self.timeout_s:g} s"
            ) from None
        finally:
            self._pending.pop(batch, None)
        return _check(sent, responses, tolerate)

    async def list_all(self, command: str, key: str, **args: Any) -> list[Any]:
        items: list[Any] = []
        while True:
            (response,) = await self.execute(
                [{"command": command, "count": LIST_PAGE, "offset": len(items), **args}]
            )
            page = response.get("data", {}).get(key, [])
            items.extend(page)
            if len(page) < LIST_PAGE:
                return items

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.disconnect()

    async def close(self) -> None:
        async with self._lock:
            await self._drop()
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()


def _check(
    sent: list[dict[str, Any]], responses: list[dict[str, Any]], tolerate: Collection[str]
) -> list[dict[str, Any]]:
    if len(responses) != len(sent):
        raise DynsecError(
            f"the broker answered {len(responses)} of {len(sent)} dynsec commands",
            details={"sent": len(sent), "answered": len(responses)},
        )
    failures = []
    for command, response in zip(sent, responses, strict=True):
        error = response.get("error")
        outcome = "ok" if not error else ("tolerated" if error in tolerate else "error")
        metrics.DYNSEC_COMMANDS.labels(command["command"], outcome).inc()
        if outcome == "error":
            failures.append(
                {
                    "command": command["command"],
                    "name": command.get("username") or command.get("rolename"),
                    "error": error,
                }
            )
    if failures:
        log.warning("dynsec commands failed", failures=failures[:20], count=len(failures))
        first = failures[0]
        raise DynsecError(
            f"broker refused {len(failures)} provisioning command(s); first: "
            f"{first['command']} {first['name']}: {first['error']}",
            details={"failures": failures[:20]},
        )
    return responses


@dataclass
class ReconcileReport:
    removed_clients: list[str] = field(default_factory=list)
    removed_roles: list[str] = field(default_factory=list)
    repaired_roles: list[str] = field(default_factory=list)
    devices_without_client: list[uuid.UUID] = field(default_factory=list)
    skipped: bool = False


def _is_managed(client: dict[str, Any]) -> bool:
    username = str(client.get("username", ""))
    try:
        uuid.UUID(username)
    except ValueError:
        return False
    roles = {r.get("rolename") for r in client.get("roles") or []}
    return str(client.get("textname") or "").startswith(TEXTNAME_PREFIX) or (
        role_name(username) in roles
    )


async def _all_devices(session: AsyncSession) -> dict[uuid.UUID, uuid.UUID]:
    """device id → tenant id of every device, tenant by tenant through RLS."""
    await enable_platform_scope(session)
    devices: dict[uuid.UUID, uuid.UUID] = {}
    for tenant_id in list(await session.scalars(select(Tenant.id))):
        await set_tenant(session, tenant_id)
        for device_id in await session.scalars(select(Device.id)):
            devices[device_id] = tenant_id
    return devices


async def reconcile(
    client: DynsecClient, sessions: async_sessionmaker[AsyncSession]
) -> ReconcileReport:
    """Bring the broker in line with the database.

    * dynsec clients and `gito-device-*` roles of devices that no longer exist are deleted
      (left by a request whose transaction failed after provisioning, or by a database
      restore);
    * a device whose client lost its role gets it back;
    * devices without a client are logged and counted: their token exists only as a hash, so
      only a credential rotation (`POST .../credentials/rotate`) can provision them."""
    async with sessions() as session, session.begin():
        if not await session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": RECONCILE_LOCK_KEY}
        ):
            return ReconcileReport(skipped=True)
        devices = await _all_devices(session)
        clients = await client.list_all("listClients", "clients", verbose=True)
        roles = set(await client.list_all("listRoles", "roles", verbose=False))
        report = ReconcileReport()

        managed = {str(c["username"]): c for c in clients if _is_managed(c)}
        orphans = [u for u in managed if uuid.UUID(u) not in devices]
        for chunk in _chunks(orphans, DEVICES_PER_BATCH):
            await client.execute(
                [c for u in chunk for c in delete_device_commands(u)], tolerate=NOT_FOUND
            )
        report.removed_clients = orphans
        # A role some remaining client holds is left alone (see delete_device_commands).
        held = {
            r.get("rolename")
            for c in clients
            if c["username"] not in orphans
            for r in c.get("roles") or []
        }
        orphan_roles = [
            r
            for r in roles
            if r.startswith(ROLE_PREFIX)
            and r not in held
            and r[len(ROLE_PREFIX) :] not in managed
            and not _is_device(r[len(ROLE_PREFIX) :], devices)
        ]
        for chunk in _chunks(orphan_roles, 2 * DEVICES_PER_BATCH):
            await client.execute(
                [{"command": "deleteRole", "rolename": r} for r in chunk], tolerate=NOT_FOUND
            )
        report.removed_roles = orphan_roles
        metrics.DYNSEC_ORPHANS_REMOVED.labels("client").inc(len(orphans))
        metrics.DYNSEC_ORPHANS_REMOVED.labels("role").inc(len(orphan_roles))

        repairs: list[dict[str, Any]] = []
        for username, c in managed.items():
            device_id = uuid.UUID(username)
            if device_id not in devices:
                continue
            rolename = role_name(device_id)
            fixes = []
            if rolename not in roles:
                fixes.append(create_role_command(devices[device_id], device_id))
            if rolename not in {r.get("rolename") for r in c.get("roles") or []}:
                fixes.append(
                    {"command": "addClientRole", "username": username, "rolename": rolename}
                )
            if fixes:
                repairs.extend(fixes)
                report.repaired_roles.append(rolename)
        for chunk in _chunks(repairs, 2 * DEVICES_PER_BATCH):
            await client.execute(chunk, tolerate={"Role already exists"})

        present = {uuid.UUID(u) for u in managed}
        report.devices_without_client = sorted(d for d in devices if d not in present)
    metrics.DYNSEC_DEVICES_WITHOUT_CLIENT.set(len(report.devices_without_client))
    if report.devices_without_client:
        log.warning(
            "devices without a dynsec client; rotate their credentials to provision them",
            count=len(report.devices_without_client),
            device_ids=[str(d) for d in report.devices_without_client[:20]],
        )
    log.info(
        "dynsec reconciled",
        devices=len(devices),
        removed_clients=len(report.removed_clients),
        removed_roles=len(report.removed_roles),
        repaired_roles=len(report.repaired_roles),
        devices_without_client=len(report.devices_without_client),
    )
    return report


def _is_device(text_id: str, devices: dict[uuid.UUID, uuid.UUID]) -> bool:
    try:
        return uuid.UUID(text_id) in devices
    except ValueError:
        return True  # not ours to judge: leave roles with non-UUID suffixes alone


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
