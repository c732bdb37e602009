"""Fault-injection helpers: a cuttable TCP proxy in front of PostgreSQL, and a publisher
that sends numbered messages and waits for every PUBACK."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta

import orjson
from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50
from sqlalchemy.engine import make_url


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to the database; `cut()` drops every connection and refuses
    new ones until `restore()` — a database outage as the processor sees it."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        socket_dir = url.query.get("host")
        if isinstance(socket_dir, str) and socket_dir.startswith("/"):
            self.upstream: tuple[str, int] | str = f"{socket_dir}/.s.PGSQL.{url.port or 5432}"
        else:
            self.upstream = (url.host or "127.0.0.1", url.port or 5432)
        self.database_url = database_url
        self.server: asyncio.Server | None = None
        self.port = 0
        self.up = True
        self._writers: set[asyncio.StreamWriter] = set()

    def url(self) -> str:
        url = make_url(self.database_url)
        query = {k: v for k, v in url.query.items() if k != "host"}
        return url.set(host="127.0.0.1", port=self.port, query=query).render_as_string(
            hide_password=False
        )

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        if isinstance(self.upstream, str):
            up_reader, up_writer = await asyncio.open_unix_connection(self.upstream)
        else:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        self.up = False
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.up = True

    async def stop(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def message(seq: int, ts: datetime) -> bytes:
    return orjson.dumps(
        {"ts": ts.isoformat(), "values": {"seq": seq, "temperature": 20 + seq % 10}}
    )


async def publish_numbered(
    port: int,
    topic: str,
    count: int,
    *,
    start: datetime | None = None,
    per_second: float | None = None,
    client_id: str | None = None,
) -> None:
    """Publish `count` QoS 1 messages with seq 0..count-1 (1 ms apart in `ts`) and return
    once the broker acknowledged every one. gmqtt re-sends unacknowledged messages after a
    reconnect, so this also rides out a broker restart."""
    client = Client(
        client_id or f"pub-{uuid.uuid4().hex[:8]}",
        clean_session=False,
        session_expiry_interval=3600,
    )
    client.set_config({"reconnect_retries": -1, "reconnect_delay": 0.5})
    await client.connect("127.0.0.1", port, version=MQTTv50)
    base = start or datetime.now(UTC) - timedelta(hours=1)
    for seq in range(count):
        client.publish(topic, message(seq, base + timedelta(milliseconds=seq)), qos=1)
        if per_second:
            await asyncio.sleep(1 / per_second)
        elif seq % 100 == 0:
            await asyncio.sleep(0)
    while not client._persistent_storage.is_empty:
        await asyncio.sleep(0.05)
    await client.disconnect()
