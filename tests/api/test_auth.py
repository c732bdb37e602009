"""Access tokens (forged, expired, `alg=none`, wrong key, stale user) and refresh-token
rotation with reuse detection and logout."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from gito.auth.permissions import Role
from gito.auth.security import secret_hash
from tests.api.helpers import assert_error, client_for, data, owner, random_ip
from tests.conftest import TEST_JWT_SECRET
from tests.factories import PASSWORD, Actor, Factory

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"


@pytest.fixture
async def fresh_client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    """A client with its own address, so failed logins here never rate-limit other tests."""
    async with client_for(app, random_ip()) as client:
        yield client


def _claims(actor: Actor, **override: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": str(actor.user_id),
        "tenant_id": str(actor.tenant_id),
        "role": actor.role.value,
        "iat": now,
        "exp": now + timedelta(hours=1),
        "jti": uuid.uuid4().hex,
    }
    claims.update(override)
    return {k: v for k, v in claims.items() if v is not None}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def _login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> Any:
    return data(await client.post(LOGIN, json={"email": email, "password": password}))


# --- access tokens ---------------------------------------------------------------------


async def test_valid_token_works(client: httpx.AsyncClient, factory: Factory) -> None:
    tenant = await factory.tenant()
    token = jwt.encode(_claims(tenant.admin), TEST_JWT_SECRET, algorithm="HS256")
    assert data(await client.get(ME, headers=_bearer(token)))["id"] == str(tenant.admin.user_id)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}],
    ids=["missing", "basic", "empty"],
)
async def test_missing_token_is_401(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    assert_error(await client.get(ME, headers=headers), 401)


async def test_expired_token_is_401(client: httpx.AsyncClient, factory: Factory) -> None:
    tenant = await factory.tenant()
    past = datetime.now(UTC) - timedelta(hours=2)
    token = jwt.encode(
        _claims(tenant.admin, iat=past, exp=past + timedelta(hours=1)),
        TEST_JWT_SECRET,
        algorithm="HS256",
    )
    assert_error(await client.get(ME, headers=_bearer(token)), 401, "TOKEN_EXPIRED")


# The HS512 token below is meant to be refused; PyJWT warns about its short key.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_forged_tokens_are_401(client: httpx.AsyncClient, factory: Factory) -> None:
    tenant = await factory.tenant()
    victim = await factory.tenant()
    claims = _claims(tenant.admin)
    good = jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256")
    header, payload, signature = good.split(".")

    # Tampered payload (another tenant, more power) under the original signature.
    forged_payload = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged_payload.update(tenant_id=str(victim.id), role="SUPER_ADMIN")
    tampered = f"{header}.{_b64(json.dumps(forged_payload).encode())}.{signature}"
    # Tampered signature.
    flipped = (
        f"{header}.{payload}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}"
    )
    # alg=none, with and without a signature part.
    none_header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    unsigned = f"{none_header}.{payload}."
    none_with_sig = f"{none_header}.{payload}.{signature}"
    # Right claims, wrong key; right key, algorithm the server does not accept.
    other_key = jwt.encode(claims, "another-secret-" + "y" * 40, algorithm="HS256")
    other_alg = jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS512")
    # Missing claims Gito relies on.
    no_tenant = jwt.encode(_claims(tenant.admin, tenant_id=None), TEST_JWT_SECRET, "HS256")
    no_exp = jwt.encode(_claims(tenant.admin, exp=None), TEST_JWT_SECRET, "HS256")
    bad_sub = jwt.encode(_claims(tenant.admin, sub="not-a-uuid"), TEST_JWT_SECRET, "HS256")
    # A well-formed token for a user id that never existed.
    ghost = jwt.encode(_claims(tenant.admin, sub=str(uuid.uuid4())), TEST_JWT_SECRET, "HS256")

    for name, token in {
        "tampered": tampered,
        "flipped": flipped,
        "unsigned": unsigned,
        "none_with_sig": none_with_sig,
        "other_key": other_key,
        "other_alg": other_alg,
        "no_tenant": no_tenant,
        "no_exp": no_exp,
        "bad_sub": bad_sub,
        "ghost": ghost,
        "garbage": "not.a.jwt",
        "huge": "x" * 5000,
    }.items():
        response = await client.get(ME, headers=_bearer(token))
        assert response.status_code == 401, (name, response.text)
        assert_error(response, 401)
        # A forged tenant claim never reaches another tenant's data either.
        response = await client.get(f"/api/v1/tenants/{victim.id}/devices", headers=_bearer(token))
        assert response.status_code == 401, (name, response.text)


async def test_token_claiming_another_tenant_for_real_user_is_refused(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    """Even correctly signed, a token whose tenant does not hold the user finds no user
    (RLS binds the look-up to the claimed tenant)."""
    tenant = await factory.tenant()
    other = await factory.tenant()
    token = jwt.encode(_claims(tenant.admin, tenant_id=str(other.id)), TEST_JWT_SECRET, "HS256")
    assert_error(await client.get(ME, headers=_bearer(token)), 401, "INVALID_TOKEN")


async def test_deleted_and_deactivated_users_lose_access_at_once(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    tenant = await factory.tenant()
    admin = tenant.admin.headers
    doomed = await factory.user(tenant, Role.VIEWER)
    paused = await factory.user(tenant, Role.VIEWER)
    for actor in (doomed, paused):
        assert (await client.get(ME, headers=actor.headers)).status_code == 200

    deleted = await client.delete(tenant.url(f"/users/{doomed.user_id}"), headers=admin)
    assert deleted.status_code == 204
    assert_error(await client.get(ME, headers=doomed.headers), 401, "INVALID_TOKEN")

    patched = await client.patch(
        tenant.url(f"/users/{paused.user_id}"), headers=admin, json={"is_active": False}
    )
    assert data(patched)["is_active"] is False
    assert_error(await client.get(ME, headers=paused.headers), 401, "INVALID_TOKEN")
    await client.patch(
        tenant.url(f"/users/{paused.user_id}"), headers=admin, json={"is_active": True}
    )
    assert (await client.get(ME, headers=paused.headers)).status_code == 200


async def test_role_change_applies_to_existing_tokens(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    """The role comes from the database, not from the token."""
    tenant = await factory.tenant()
    demoted = await factory.user(tenant, Role.TENANT_ADMIN)
    new_site = {"name": f"s-{uuid.uuid4().hex[:6]}"}
    assert (
        await client.post(tenant.url("/sites"), headers=demoted.headers, json=new_site)
    ).status_code == 201
    await client.patch(
        tenant.url(f"/users/{demoted.user_id}"),
        headers=tenant.admin.headers,
        json={"role": "VIEWER"},
    )
    assert_error(
        await client.post(tenant.url("/sites"), headers=demoted.headers, json={"name": "x"}),
        403,
        "PERMISSION_DENIED",
    )


async def test_deactivated_tenant_locks_out_its_users(
    fresh_client: httpx.AsyncClient, factory: Factory
) -> None:
    platform = await factory.tenant(admin_role=Role.SUPER_ADMIN)
    tenant = await factory.tenant()
    pair = await _login(fresh_client, tenant.admin.email)
    off = await fresh_client.patch(
        f"/api/v1/tenants/{tenant.id}", headers=platform.admin.headers, json={"is_active": False}
    )
    assert data(off)["is_active"] is False
    assert_error(await fresh_client.get(ME, headers=tenant.admin.headers), 401)
    login = await fresh_client.post(LOGIN, json={"email": tenant.admin.email, "password": PASSWORD})
    assert_error(login, 401, "INVALID_CREDENTIALS")
    assert_error(
        await fresh_client.post(REFRESH, json={"refresh_token": pair["refresh_token"]}), 401
    )


# --- login -------------------------------------------------------------------------------


async def test_login_failures_do_not_reveal_accounts(
    fresh_client: httpx.AsyncClient, factory: Factory
) -> None:
    tenant = await factory.tenant()
    wrong = await fresh_client.post(LOGIN, json={"email": tenant.admin.email, "password": "nope"})
    unknown = await fresh_client.post(
        LOGIN, json={"email": f"{uuid.uuid4().hex}@example.com", "password": "nope"}
    )
    for response in (wrong, unknown):
        assert_error(response, 401, "INVALID_CREDENTIALS")
    assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]


async def test_inactive_user_cannot_log_in(
    fresh_client: httpx.AsyncClient, factory: Factory
) -> None:
    tenant = await factory.tenant()
    user = await factory.user(tenant, Role.VIEWER)
    await fresh_client.patch(
        tenant.url(f"/users/{user.user_id}"),
        headers=tenant.admin.headers,
        json={"is_active": False},
    )
    response = await fresh_client.post(LOGIN, json={"email": user.email, "password": PASSWORD})
    assert_error(response, 401, "INVALID_CREDENTIALS")


async def test_login_returns_tokens_and_user_without_secrets(
    fresh_client: httpx.AsyncClient, factory: Factory
) -> None:
    tenant = await factory.tenant()
    pair = await _login(fresh_client, tenant.admin.email)
    assert pair["token_type"] == "bearer" and pair["expires_in"] == 24 * 3600
    assert pair["refresh_token"].startswith("grt_")
    assert set(pair["user"]) >= {"id", "email", "role", "tenant_id"}
    text = json.dumps(pair["user"])
    assert "password" not in text and "argon2" not in text
    me = data(await fresh_client.get(ME, headers=_bearer(pair["access_token"])))
    assert me["last_login_at"] is not None


# --- refresh tokens ----------------------------------------------------------------------


async def test_refresh_rotates_and_reuse_revokes_the_whole_family(
    fresh_client: httpx.AsyncClient, factory: Factory
) -> None:
    tenant = await factory.tenant()
    first = await _login(fresh_client, tenant.admin.email)
    second = data(await fresh_client.post(REFRESH, json={"refresh_token": first["refresh_token"]}))
    assert second["refresh_token"] != first["refresh_token"]
    assert (await fresh_client.get(ME, headers=_bearer(second["access_token"]))).status_code == 200
    third = data(await fresh_client.post(REFRESH, json={"refresh_token": second["refresh_token"]}))

    # The first token, presented again: theft assumed, the family dies.
    reused = await fresh_client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert_error(reused, 401, "REFRESH_TOKEN_REUSED")
    # ... including the newest token of the family, which was never used.
    newest = await fresh_client.post(REFRESH, json={"refresh_token": third["refresh_token"]})
    assert_error(newest, 401)

    # Another login (another family) is unaffected.
    other = await _login(fresh_client, tenant.admin.email)
    assert (
        await fresh_client.post(REFRESH, json={"refresh_token": other["refresh_token"]})
    ).status_code == 200


async def test_concurrent_refreshes_with_one_token_count_as_reuse(
    fresh_client: httpx.AsyncClient, factory: Factory
) -> None:
    """Two requests racing with one refresh token (a thief and the owner): one wins, the
    other is reuse, and the winner's new token dies with the family."""
    tenant = await factory.tenant()
    for _ in range(3):
        pair = await _login(fresh_client, tenant.admin.email)
        body = {"refresh_token": pair["refresh_token"]}
        responses = await asyncio.gather(
            fresh_client.post(REFRESH, json=body), fresh_client.post(REFRESH, json=body)
        )
        winner = [r for r in responses if r.status_code == 200]
        loser = [r for r in responses if r.status_code != 200]
        assert len(winner) == 1 and len(loser) == 1, [r.text for r in responses]
        assert_error(loser[0], 401, "REFRESH_TOKEN_REUSED")
        issued = data(winner[0])["refresh_token"]
        assert_error(await fresh_client.post(REFRESH, json={"refresh_token": issued}), 401)


async def test_refresh_reuse_revocation_is_committed(
    fresh_client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    first = await _login(fresh_client, tenant.admin.email)
    second = data(await fresh_client.post(REFRESH, json={"refresh_token": first["refresh_token"]}))
    await fresh_client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    async with owner(owner_dsn) as conn:
        revoked = await conn.fetchval(
            "SELECT revoked_at FROM refresh_tokens WHERE token_hash = $1",
            secret_hash(second["refresh_token"]),
        )
    assert revoked is not None


async def test_logout_revokes_the_family(fresh_client: httpx.AsyncClient, factory: Factory) -> None:
    tenant = await factory.tenant()
    first = await _login(fresh_client, tenant.admin.email)
    second = data(await fresh_client.post(REFRESH, json={"refresh_token": first["refresh_token"]}))
    out = await fresh_client.post(LOGOUT, json={"refresh_token": second["refresh_token"]})
    assert out.status_code == 204 and out.content == b""
    assert_error(
        await fresh_client.post(REFRESH, json={"refresh_token": second["refresh_token"]}), 401
    )
    # Unknown tokens are ignored, so logout cannot be used to probe for valid tokens.
    assert (
        await fresh_client.post(LOGOUT, json={"refresh_token": "grt_unknown"})
    ).status_code == 204


@pytest.mark.parametrize(
    "token", ["grt_doesnotexist", "x", "a" * 200], ids=["unknown", "short", "long"]
)
async def test_unknown_refresh_token_is_401(fresh_client: httpx.AsyncClient, token: str) -> None:
    assert_error(
        await fresh_client.post(REFRESH, json={"refresh_token": token}),
        401,
        "INVALID_REFRESH_TOKEN",
    )


async def test_expired_refresh_token_is_401(
    fresh_client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    pair = await _login(fresh_client, tenant.admin.email)
    async with owner(owner_dsn) as conn:
        await conn.execute(
            "UPDATE refresh_tokens SET expires_at = now() - interval '1 second' "
            "WHERE token_hash = $1",
            secret_hash(pair["refresh_token"]),
        )
    response = await fresh_client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
    assert_error(response, 401, "INVALID_REFRESH_TOKEN")


async def test_refresh_of_deactivated_or_deleted_user_is_401(
    fresh_client: httpx.AsyncClient, factory: Factory
) -> None:
    tenant = await factory.tenant()
    paused = await factory.user(tenant, Role.VIEWER)
    doomed = await factory.user(tenant, Role.VIEWER)
    paused_pair = await _login(fresh_client, paused.email)
    doomed_pair = await _login(fresh_client, doomed.email)
    admin = tenant.admin.headers
    await fresh_client.patch(
        tenant.url(f"/users/{paused.user_id}"), headers=admin, json={"is_active": False}
    )
    await fresh_client.delete(tenant.url(f"/users/{doomed.user_id}"), headers=admin)
    for pair in (paused_pair, doomed_pair):
        assert_error(
            await fresh_client.post(REFRESH, json={"refresh_token": pair["refresh_token"]}), 401
        )
