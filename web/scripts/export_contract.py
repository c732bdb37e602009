"""Write the API contract the dashboard is typed against, without starting a server:
`src/lib/api/openapi.json` (the OpenAPI document) and `src/lib/permissions.json` (the role
matrix of `gito.auth.permissions`, so the UI hides exactly what the API would refuse).

Run through `npm run gen:api`, which also regenerates `schema.d.ts` from the OpenAPI file;
`tests/web/test_contract.py` fails when a committed file is stale."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

WEB = Path(__file__).resolve().parents[1]
OPENAPI_PATH = WEB / "src" / "lib" / "api" / "openapi.json"
PERMISSIONS_PATH = WEB / "src" / "lib" / "permissions.json"


def openapi_document() -> dict[str, Any]:
    from gito.api.app import create_app
    from gito.config import Settings

    # Explicit settings: the document must not depend on the caller's environment or .env.
    settings = Settings(_env_file=None, app_env="test", jwt_secret_key="x" * 40)  # type: ignore[call-arg]
    return create_app(settings).openapi()


def permission_matrix() -> dict[str, list[str]]:
    from gito.auth.permissions import MATRIX

    return {role.value: sorted(p.value for p in perms) for role, perms in MATRIX.items()}


def render(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    OPENAPI_PATH.write_text(render(openapi_document()), encoding="utf-8")
    PERMISSIONS_PATH.write_text(render(permission_matrix()), encoding="utf-8")
    print(f"wrote {OPENAPI_PATH.relative_to(WEB)} and {PERMISSIONS_PATH.relative_to(WEB)}")


if __name__ == "__main__":
    sys.exit(main())
