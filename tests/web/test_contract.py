"""The dashboard is typed against committed copies of the API contract; these tests fail
when the API changed and the copies were not regenerated (`cd web && npm run gen:api`)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

WEB = Path(__file__).resolve().parents[2] / "web"
REGENERATE = "regenerate with `cd web && npm run gen:api` and commit the result"


def _export_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "export_contract", WEB / "scripts" / "export_contract.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_openapi_document_is_current() -> None:
    export = _export_module()
    committed = json.loads(export.OPENAPI_PATH.read_text(encoding="utf-8"))
    current = export.openapi_document()
    assert committed == current, f"web/src/lib/api/openapi.json is stale: {REGENERATE}"
    # The typed client depends on success bodies being documented (not `{"type": "string"}`).
    listing = current["paths"]["/api/v1/tenants/{tenant_id}/devices"]["get"]
    schema = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/PageEnvelope_DeviceOut_"}


def test_committed_permission_matrix_is_current() -> None:
    export = _export_module()
    committed = json.loads(export.PERMISSIONS_PATH.read_text(encoding="utf-8"))
    assert committed == export.permission_matrix(), (
        f"web/src/lib/permissions.json is stale: {REGENERATE}"
    )
    assert "devices:write" not in committed["VIEWER"]


def test_generated_typescript_schema_is_current(tmp_path: Path) -> None:
    cli = WEB / "node_modules" / "openapi-typescript" / "bin" / "cli.js"
    node = shutil.which("node")
    if node is None or not cli.is_file():
        pytest.skip("node or web/node_modules missing: run `cd web && npm ci`")
    out = tmp_path / "schema.d.ts"
    subprocess.run(
        [node, str(cli), str(WEB / "src/lib/api/openapi.json"), "--output", str(out)],
        check=True,
        capture_output=True,
        cwd=WEB,
        timeout=120,
    )
    committed = (WEB / "src/lib/api/schema.d.ts").read_text(encoding="utf-8")
    assert out.read_text(encoding="utf-8") == committed, (
        f"web/src/lib/api/schema.d.ts is stale: {REGENERATE}"
    )
