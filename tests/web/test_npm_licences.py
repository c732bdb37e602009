"""The dashboard's npm tree obeys the licence rule of docs/DEPENDENCIES.md (read from the
committed lock file, so it needs neither Node nor the network)."""

from __future__ import annotations

import json
import re
from pathlib import Path

LOCK = Path(__file__).resolve().parents[2] / "web" / "package-lock.json"

ALLOWED = {
    "MIT",
    "MIT-0",
    "ISC",
    "0BSD",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "Apache-2.0",
    "MPL-2.0",
    "BlueOak-1.0.0",
    "CC0-1.0",
    "Python-2.0",
    "Unlicense",
}
# Build-time only, never in web/out; documented in docs/DEPENDENCIES.md ("Web").
EXCEPTIONS = {
    "caniuse-lite": "CC-BY-4.0",
    "@img/sharp-": "LGPL-3.0-or-later",
}


def _licence_ok(expression: str) -> bool:
    # SPDX: any choice of an OR satisfies; every part of an AND must be allowed.
    for choice in re.split(r"\s+OR\s+", expression.strip("()")):
        parts = [p.strip("() ") for p in re.split(r"\s+AND\s+", choice)]
        if all(p in ALLOWED for p in parts):
            return True
    return False


def test_licence_expressions() -> None:
    assert _licence_ok("MIT") and _licence_ok("(MIT OR CC0-1.0)")
    assert _licence_ok("Apache-2.0 AND MIT")
    assert not _licence_ok("GPL-3.0-only") and not _licence_ok("")
    assert not _licence_ok("MIT AND AGPL-3.0")


def test_every_npm_package_has_an_allowed_licence() -> None:
    packages = json.loads(LOCK.read_text())["packages"]
    problems = []
    for path, info in packages.items():
        if not path:
            continue
        name = path.rsplit("node_modules/", 1)[-1]
        licence = str(info.get("license", ""))
        exception = next((v for k, v in EXCEPTIONS.items() if name.startswith(k)), None)
        if exception and exception in licence:
            continue
        if not _licence_ok(licence):
            problems.append(f"{name} {info.get('version')}: {licence or 'no licence field'}")
    assert not problems, "npm packages outside the licence rule:\n" + "\n".join(problems)


def test_shipped_dependencies_are_permissive() -> None:
    direct = json.loads(LOCK.read_text())["packages"][""]["dependencies"]
    packages = json.loads(LOCK.read_text())["packages"]
    for name in direct:
        licence = packages[f"node_modules/{name}"]["license"]
        assert licence in {"MIT", "ISC", "Apache-2.0"}, f"{name}: {licence}"
