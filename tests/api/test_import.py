"""CSV device import: all or nothing, with every invalid row named by its row number."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.api.helpers import assert_error, data, owner
from tests.factories import Factory, TenantFixture


async def _import(
    client: httpx.AsyncClient, tenant: TenantFixture, csv: str | bytes
) -> httpx.Response:
    return await client.post(
        tenant.url("/devices/import"),
        headers={**tenant.admin.headers, "Content-Type": "text/csv"},
        content=csv.encode() if isinstance(csv, str) else csv,
    )


async def _count(owner_dsn: str, tenant: TenantFixture) -> int:
    async with owner(owner_dsn) as conn:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM devices WHERE tenant_id = $1", tenant.id
        )
    return count


def _row_errors(response: httpx.Response) -> dict[int, list[str]]:
    error = assert_error(response, 422, "IMPORT_INVALID")
    return {r["row"]: r["errors"] for r in error["details"]["rows"]}


async def test_import_creates_every_row(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    site = await factory.site(tenant)
    csv = (
        "\ufeffname,device_type,dev_eui,site_id,tags,expected_interval_s,metadata\r\n"
        f'Meter 1,meter,A1A1A1A1A1A1A1A1,{site},roof;hvac,300,"{{""floor"": 2}}"\r\n'
        '"Valve, east",valve,,,,,\r\n'
        "Plain,sensor,,,,,\r\n"
    )
    created = data(await _import(client, tenant, csv), 201)
    assert [(c["row"], c["name"]) for c in created] == [
        (2, "Meter 1"),
        (3, "Valve, east"),
        (4, "Plain"),
    ]
    assert all(c["token"].startswith("gdt_") for c in created)
    assert len({c["token"] for c in created}) == 3
    first = data(
        await client.get(tenant.url(f"/devices/{created[0]['id']}"), headers=tenant.admin.headers)
    )
    assert first["dev_eui"] == "a1a1a1a1a1a1a1a1" and first["site_id"] == str(site)
    assert first["tags"] == ["roof", "hvac"] and first["metadata"] == {"floor": 2}
    assert first["expected_interval_s"] == 300
    assert await _count(owner_dsn, tenant) == 3


async def test_invalid_rows_are_listed_and_nothing_is_imported(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    other = await factory.tenant()
    foreign_site = await factory.site(other)
    taken = uuid.uuid4().hex[:16]
    await factory.device(tenant, dev_eui=taken)
    before = await _count(owner_dsn, tenant)
    dup = uuid.uuid4().hex[:16]
    csv = "\n".join(
        [
            "name,device_type,dev_eui,site_id,metadata,expected_interval_s",
            "good,sensor,,,,",  # 2
            ",sensor,,,,",  # 3: name missing
            f"dup-a,sensor,{dup},,,",  # 4
            f"dup-b,sensor,{dup.upper()},,,",  # 5: duplicates row 4
            f"taken,sensor,{taken},,,",  # 6: dev_eui exists in the tenant
            f"unknown-site,sensor,,{uuid.uuid4()},,",  # 7
            f"foreign-site,sensor,,{foreign_site},,",  # 8
            "bad-json,sensor,,,{not json,",  # 9
            'not-object,sensor,,,"[1, 2]",',  # 10
            "bad-interval,sensor,,,,-5",  # 11
            "bad-eui,sensor,xyz,,,",  # 12
            "bad-site,sensor,,not-a-uuid,,",  # 13
            "too,many,values,,,,,",  # 14
            "good-too,sensor,,,,",  # 15
        ]
    )
    rows = _row_errors(await _import(client, tenant, csv))
    assert set(rows) == {3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
    assert "name" in rows[3][0]
    assert "row 4" in rows[5][0]
    assert "dev_eui" in rows[6][0]
    assert "site" in rows[7][0] and "site" in rows[8][0]
    assert "metadata" in rows[9][0] and "metadata" in rows[10][0]
    assert "expected_interval_s" in rows[11][0]
    assert "dev_eui" in rows[12][0] and "site_id" in rows[13][0]
    assert "more values" in rows[14][0]
    assert await _count(owner_dsn, tenant) == before


async def test_same_dev_eui_in_another_tenant_imports(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    a, b = await factory.tenant(), await factory.tenant()
    eui = uuid.uuid4().hex[:16]
    await factory.device(a, dev_eui=eui)
    created = data(await _import(client, b, f"name,device_type,dev_eui\nx,sensor,{eui}\n"), 201)
    assert len(created) == 1


async def test_row_numbers_count_records_not_lines(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    """A quoted value may span lines; the row number is still the record a spreadsheet shows."""
    tenant = await factory.tenant()
    csv = 'name,device_type,metadata\n"two\nlines",sensor,\nbroken,,\n'
    assert set(_row_errors(await _import(client, tenant, csv))) == {3}


async def test_bad_files_are_refused(client: httpx.AsyncClient, factory: Factory) -> None:
    tenant = await factory.tenant()
    cases: dict[str, tuple[bytes | str, str]] = {
        "missing column": ("name\nx\n", "CSV_INVALID"),
        "unknown column": ("name,device_type,colour\nx,t,red\n", "CSV_INVALID"),
        "duplicate column": ("name,device_type,name\nx,t,y\n", "CSV_INVALID"),
        "not utf-8": ("name,device_type\nCaf\xe9,t\n".encode("latin-1"), "CSV_INVALID"),
        "nul byte": ("name,device_type\nx\x00,t\n", "CSV_INVALID"),
        "unterminated quote": ('name,device_type\n"x,t\n', "CSV_INVALID"),
        "header only": ("name,device_type\n", "CSV_EMPTY"),
        "empty": ("", "CSV_INVALID"),
        "binary": (bytes(range(256)), "CSV_INVALID"),
    }
    for name, (body, code) in cases.items():
        response = await _import(client, tenant, body)
        assert response.status_code == 422, (name, response.text)
        assert_error(response, 422, code)


async def test_too_many_rows(client: httpx.AsyncClient, factory: Factory, settings: Any) -> None:
    tenant = await factory.tenant()
    rows = settings.max_import_rows + 1
    csv = "name,device_type\n" + "d,t\n" * rows
    assert_error(await _import(client, tenant, csv), 422, "CSV_TOO_MANY_ROWS")


async def test_import_has_its_own_body_limit(client: httpx.AsyncClient, factory: Factory) -> None:
    """A CSV above the JSON body limit (1 MiB) is still read; above the import limit, 413."""
    tenant = await factory.tenant()
    big_but_allowed = "name,device_type,colour\n" + "x" * (1024 * 1024 + 10)
    assert_error(await _import(client, tenant, big_but_allowed), 422, "CSV_INVALID")
    too_big = b"name,device_type\n" + b"x" * (10 * 1024 * 1024 + 1)
    assert_error(await _import(client, tenant, too_big), 413, "PAYLOAD_TOO_LARGE")
