"""The documents a user learns Gito from cannot drift from the code: the permission matrix in
docs/SECURITY.md is the one in `gito.auth.permissions`, every dependency in pyproject.toml is
listed with its licence in docs/DEPENDENCIES.md, and every setting is in .env.example."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from gito.auth.permissions import MATRIX, Permission, Role
from gito.config import Settings

ROOT = Path(__file__).resolve().parents[2]
GRANTED, REFUSED = "\u2713", "\u2013"  # ✓ and an en dash, as the table shows them
FORBIDDEN_LICENCES = ("AGPL", "SSPL", "BUSL", "BSL-1", "Business Source", "RSAL", "Commons Clause")


def _tables(markdown: str) -> list[list[list[str]]]:
    """Every pipe table of a Markdown text, as rows of stripped cells (separator rows
    dropped)."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def _security_matrix() -> dict[Role, frozenset[Permission]]:
    text = (ROOT / "docs" / "SECURITY.md").read_text()
    matching = [t for t in _tables(text) if t[0][0] == "permission" and "VIEWER" in t[0]]
    assert len(matching) == 1, "docs/SECURITY.md must hold one permission matrix table"
    header, *rows = matching[0]
    roles = [Role(name) for name in header[1:]]
    granted: dict[Role, set[Permission]] = {role: set() for role in roles}
    for row in rows:
        permission = Permission(row[0].strip("`"))
        assert len(row) == len(header), f"row {row[0]} has {len(row)} cells"
        for role, cell in zip(roles, row[1:], strict=True):
            assert cell in (GRANTED, REFUSED), f"{row[0]} / {role}: {cell!r}"
            if cell == GRANTED:
                granted[role].add(permission)
    listed = {Permission(row[0].strip("`")) for row in rows}
    assert listed == set(Permission), f"permissions missing: {set(Permission) - listed}"
    return {role: frozenset(perms) for role, perms in granted.items()}


def test_security_doc_matrix_is_the_code_matrix() -> None:
    assert _security_matrix() == MATRIX


def _dependency_names() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        specs += extra
    return {re.split(r"[\[<>=!~ ;]", spec, maxsplit=1)[0].lower() for spec in specs}


def _documented_dependencies() -> dict[str, str]:
    """Package name → licence cell, from every table of docs/DEPENDENCIES.md whose header
    has `package` and `licence` columns."""
    text = (ROOT / "docs" / "DEPENDENCIES.md").read_text()
    found: dict[str, str] = {}
    for table in _tables(text):
        header = [h.lower() for h in table[0]]
        if "package" not in header or "licence" not in header:
            continue
        name_at, licence_at = header.index("package"), header.index("licence")
        for row in table[1:]:
            found[row[name_at].strip("`").lower()] = row[licence_at]
    return found


def test_every_dependency_is_documented_with_an_allowed_licence() -> None:
    documented = _documented_dependencies()
    missing = sorted(_dependency_names() - set(documented))
    assert not missing, f"add these pyproject.toml dependencies to docs/DEPENDENCIES.md: {missing}"
    for name, licence in documented.items():
        assert licence, f"{name}: no licence given"
        assert not any(bad.lower() in licence.lower() for bad in FORBIDDEN_LICENCES), (
            f"{name}: licence {licence!r} is not allowed in Gito"
        )


def _env_example() -> list[str]:
    return (ROOT / ".env.example").read_text().splitlines()


_VARIABLE = re.compile(r"^#?\s?([A-Z][A-Z0-9_]*)=(.*)$")


def test_env_example_names_every_setting_with_a_comment() -> None:
    lines = _env_example()
    names: set[str] = set()
    for i, line in enumerate(lines):
        match = _VARIABLE.match(line)
        if not match:
            continue
        names.add(match.group(1))
        above = lines[i - 1] if i else ""
        # A description directly above, or the variable continues a block of examples that
        # share one (e.g. a commented alternative right under the active line).
        assert above.startswith("#") or _VARIABLE.match(above), (
            f".env.example line {i + 1}: {match.group(1)} needs a comment above it"
        )
    fields = {name.upper() for name in Settings.model_fields}
    assert fields - names == set(), f"add to .env.example: {sorted(fields - names)}"
    assert names - fields == set(), f"not settings (typo?): {sorted(names - fields)}"


def test_env_example_values_are_valid_defaults(tmp_path: Path) -> None:
    """Copying .env.example to .env must give a working development configuration whose
    active values are the defaults (so the file cannot silently change behaviour)."""
    active = {}
    for line in _env_example():
        match = _VARIABLE.match(line)
        if match and not line.startswith("#"):
            active[match.group(1).lower()] = match.group(2)
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(_env_example()))
    loaded = Settings(_env_file=env_file)  # type: ignore[call-arg]
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert active, ".env.example sets no value at all"
    for name in active:
        assert getattr(loaded, name) == getattr(defaults, name), f"{name.upper()} != default"
