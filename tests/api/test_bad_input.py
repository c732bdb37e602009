"""Whatever a client sends, the answer is a 4xx with the error envelope, never a 500."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gito.config import Settings
from tests.api.helpers import assert_error
from tests.factories import Factory, TenantFixture


@pytest.fixture(scope="module")
async def tenant(app: object, settings: Settings) -> AsyncIterator[TenantFixture]:
    yield await Factory(settings).tenant()


@pytest.fixture(scope="module")
async def device(tenant: TenantFixture, settings: Settings) -> uuid.UUID:
    return (await Factory(settings).device(tenant))[0]


def _device(**override: Any) -> dict[str, Any]:
    return {"name": f"d-{uuid.uuid4().hex[:6]}", "device_type": "t", **override}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/tenants/not-a-uuid/devices",
        "/api/v1/tenants/{t}/devices/not-a-uuid",
        "/api/v1/tenants/{t}/devices/123",
        "/api/v1/tenants/{t}/users/%00",
        "/api/v1/tenants/{t}/sites/{u}x",
        "/api/v1/tenants/{t}/devices/%F0%9F%92%A9",
        "/api/v1/tenants/1/users",
    ],
)
async def test_invalid_uuids_in_the_path_are_422(
    client: httpx.AsyncClient, tenant: TenantFixture, path: str
) -> None:
    url = path.format(t=tenant.id, u=uuid.uuid4())
    assert_error(await client.get(url, headers=tenant.admin.headers), 422, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "body",
    [
        _device(name=123),
        _device(name=None),
        _device(name=""),
        _device(name="x" * 201),
        _device(device_type="x" * 101),
        _device(tags="roof"),
        _device(tags=["x" * 65]),
        _device(tags=[f"t{i}" for i in range(51)]),
        _device(tags=[1, 2]),
        _device(expected_interval_s="soon"),
        _device(expected_interval_s=0),
        _device(expected_interval_s=1.5),
        _device(expected_interval_s=10**30),
        _device(metadata=[1, 2]),
        _device(metadata="{}"),
        _device(metadata={"blob": "x" * 17_000}),
        _device(site_id="not-a-uuid"),
        _device(site_id=123),
        _device(dev_eui=1234567890123456),
        _device(unknown="field"),
        _device(id=str(uuid.uuid4())),
        _device(tenant_id=str(uuid.uuid4())),
        _device(token="gdt_chosen"),
        _device(status="online"),
        {"name": "x"},
        {},
        [],
        "device",
        None,
        17,
    ],
)
async def test_invalid_device_bodies_are_422(
    client: httpx.AsyncClient, tenant: TenantFixture, body: Any
) -> None:
    response = await client.post(tenant.url("/devices"), headers=tenant.admin.headers, json=body)
    assert_error(response, 422, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b'{"name": "x",}',
        b"{'name': 'x'}",
        b'{"name": "x", "device_type": "t"} trailing',
        b"\xff\xfe\x00{",
        b'{"name": "\\ud800", "device_type": "t"}',
        b'{"name": "a\\u0000b", "device_type": "t"}',
        b'{"name": "x", "device_type": "t", "metadata": {"k\\u0000": 1}}',
        b'{"name": "x", "device_type": "t", "metadata": {"v": "\\u0000"}}',
        b'{"name": "x", "device_type": "t", "metadata": {"v": "\\udfff"}}',
        b'{"name": "x", "device_type": "t", "metadata": {"v": NaN}}',
        b'{"name": "x", "device_type": "t", "metadata": {"v": Infinity}}',
        b'{"name": "x", "device_type": "t", "metadata": {"v": 1e400}}',
        # jsonb would hand these back as integers too large for a JSON response.
        b'{"name": "x", "device_type": "t", "metadata": {"v": 1e20}}',
        b'{"name": "x", "device_type": "t", "metadata": {"v": [-1.5e300]}}',
        b'{"name": "x", "device_type": "t", "metadata": {"v": 123456789012345678901234567890}}',
        b'{"name": "x", "device_type": "t", "metadata": ' + b'{"a":' * 300 + b"1" + b"}" * 301,
        b'{"name": "x", "device_type": "t", "metadata": ' + b'{"a":' * 900 + b"1" + b"}" * 901,
        b'{"name": "x", "device_type": "t", "tags": ' + b"[" * 900 + b"]" * 900 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=lambda raw: raw[:40].decode("latin-1"),
)
async def test_malformed_or_unstorable_json_is_4xx(
    client: httpx.AsyncClient, tenant: TenantFixture, raw: bytes
) -> None:
    response = await client.post(
        tenant.url("/devices"),
        headers={**tenant.admin.headers, "Content-Type": "application/json"},
        content=raw,
    )
    assert 400 <= response.status_code < 500, response.text
    assert_error(response, response.status_code)


async def test_metadata_numbers_round_trip(
    client: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    metadata = {"big": 9.2e18, "int": 2**63 - 1, "tiny": 1.5e-300, "neg": -(2**63)}
    created = await client.post(
        tenant.url("/sites"),
        headers=tenant.admin.headers,
        json={"name": f"s-{uuid.uuid4().hex[:6]}", "metadata": metadata},
    )
    assert created.status_code == 201, created.text
    url = tenant.url(f"/sites/{created.json()['data']['id']}")
    got = await client.get(url, headers=tenant.admin.headers)
    assert got.status_code == 200, got.text
    assert got.json()["data"]["metadata"] == metadata


async def test_wrong_content_type_is_422(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    response = await client.post(
        tenant.url("/devices"),
        headers={**tenant.admin.headers, "Content-Type": "text/plain"},
        content=b'{"name": "x", "device_type": "t"}',
    )
    assert_error(response, 422)


@pytest.mark.parametrize(
    "query",
    [
        "q=%00",
        "q=a%00b",
        "device_type=%00",
        "tag=%00",
        "q=%ED%A0%80",
        "q=%FF",
        "page=99999999999999999999",
        "per_page=1e3",
        "sort=name&sort=-name",
    ],
)
async def test_hostile_query_strings_are_handled(
    client: httpx.AsyncClient, tenant: TenantFixture, query: str
) -> None:
    response = await client.get(tenant.url(f"/devices?{query}"), headers=tenant.admin.headers)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_error(response, response.status_code)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/users", "q=%00"),
        ("/sites", "q=%00"),
        ("/audit-log", "action=%00"),
        ("/audit-log", "entity_id=%00"),
        ("/audit-log", "entity_type=a%00"),
    ],
)
async def test_nul_in_other_filters(
    client: httpx.AsyncClient, tenant: TenantFixture, path: str, query: str
) -> None:
    response = await client.get(tenant.url(f"{path}?{query}"), headers=tenant.admin.headers)
    assert response.status_code < 500, response.text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/devices/{d}", {"name": None}),
        ("PATCH", "/devices/{d}", {"metadata": None}),
        ("PATCH", "/devices/{d}", {"tags": None}),
        ("PATCH", "/devices/{d}", {"name": "a\u0000b"}),
        ("PATCH", "/devices/{d}", {"status": "online"}),
        ("PATCH", "/devices/{d}", {"tenant_id": str(uuid.uuid4())}),
        ("PATCH", "/devices/{d}", []),
        ("POST", "/sites", {"name": "x", "latitude": 91}),
        ("POST", "/sites", {"name": "x", "longitude": "east"}),
        ("POST", "/sites", {"name": "x", "description": "d" * 2001}),
        ("POST", "/sites", {"name": "a\u0000"}),
        ("PATCH", "/sites/{s}", {"name": None}),
        ("PATCH", "/sites/{s}", {"metadata": None}),
        (
            "POST",
            "/users",
            {"email": "a\u0000@example.com", "password": "x" * 10, "role": "VIEWER"},
        ),
        ("POST", "/users", {"email": "a@example.com", "password": "\u0000" * 10, "role": "VIEWER"}),
    ],
)
async def test_other_bad_bodies_are_422(
    client: httpx.AsyncClient,
    tenant: TenantFixture,
    device: uuid.UUID,
    method: str,
    path: str,
    body: Any,
    factory: Factory,
) -> None:
    site = await factory.site(tenant)
    url = tenant.url(path.format(d=device, s=site))
    response = await client.request(method, url, headers=tenant.admin.headers, json=body)
    assert_error(response, 422, "VALIDATION_ERROR")


async def test_login_with_hostile_input(client: httpx.AsyncClient) -> None:
    for body in (
        {"email": "a\u0000@example.com", "password": "x"},
        {"email": "x" * 321, "password": "x"},
        {"email": "a@example.com", "password": "x" * 129},
        {"email": ["a"], "password": "x"},
        {"email": "a@example.com"},
    ):
        response = await client.post("/api/v1/auth/login", json=body)
        assert 400 <= response.status_code < 500, (body, response.text)
        assert_error(response, response.status_code)
    # A lone surrogate (valid JSON escape, not encodable text), sent as raw bytes.
    response = await client.post(
        "/api/v1/auth/login",
        headers={"Content-Type": "application/json"},
        content=b'{"email": "\\ud800@example.com", "password": "x"}',
    )
    assert_error(response, 422, "VALIDATION_ERROR")


# --- body size -----------------------------------------------------------------------------

ONE_MIB = 1024 * 1024


async def test_body_over_one_mib_is_413(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    body = b'{"name": "' + b"x" * ONE_MIB + b'", "device_type": "t"}'
    response = await client.post(
        tenant.url("/devices"),
        headers={**tenant.admin.headers, "Content-Type": "application/json"},
        content=body,
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


async def test_chunked_body_over_one_mib_is_413(
    client: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(20):
            yield b"x" * 64 * 1024
        yield b'", "device_type": "t"}'

    response = await client.post(
        tenant.url("/devices"),
        headers={**tenant.admin.headers, "Content-Type": "application/json"},
        content=chunks(),
    )
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


async def test_lying_content_length_is_refused(
    client: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    response = await client.post(
        tenant.url("/devices"),
        headers={
            **tenant.admin.headers,
            "Content-Type": "application/json",
            "Content-Length": "not-a-number",
        },
        content=b"{}",
    )
    assert_error(response, 413)


async def test_body_just_under_the_limit_is_parsed(
    client: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    body = b'{"name": "' + b"x" * (ONE_MIB - 100) + b'", "device_type": "t"}'
    response = await client.post(
        tenant.url("/devices"),
        headers={**tenant.admin.headers, "Content-Type": "application/json"},
        content=body,
    )
    # Parsed (not 413), then refused by the name's length limit.
    assert_error(response, 422, "VALIDATION_ERROR")


async def test_unknown_routes_and_methods(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    assert_error(await client.get("/api/v1/nothing-here"), 404)
    # 405, or 404 where the dashboard's catch-all mount answers first.
    wrong_method = await client.put(tenant.url("/devices"), headers=tenant.admin.headers)
    assert wrong_method.status_code in (404, 405)
    assert_error(wrong_method, wrong_method.status_code)
