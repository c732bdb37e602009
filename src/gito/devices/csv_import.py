"""CSV bulk import: every row is validated first; nothing is written unless all rows pass.

Columns: `name`, `device_type` (required), `dev_eui`, `site_id`, `tags` (`;`-separated),
`expected_interval_s`, `metadata` (a JSON object). Unknown columns are an error, so a typo
in a header is not silently dropped."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
from pydantic import ValidationError

from gito.devices.schemas import DeviceCreate
from gito.errors import InvalidInput

REQUIRED_COLUMNS = ("name", "device_type")
OPTIONAL_COLUMNS = ("dev_eui", "site_id", "tags", "expected_interval_s", "metadata")
# Row number → what is wrong with it.
RowErrors = dict[int, list[str]]


def _row_to_fields(row: dict[str, str]) -> dict[str, Any]:
    fields: dict[str, Any] = {k: v for k, v in row.items() if v not in ("", None)}
    if "tags" in fields:
        fields["tags"] = [t for t in fields["tags"].split(";") if t.strip()]
    if "metadata" in fields:
        try:
            fields["metadata"] = orjson.loads(fields["metadata"])
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"metadata: not valid JSON ({exc.msg})") from exc
    return fields


def _describe(exc: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(p) for p in err['loc']) or 'row'}: {err['msg']}" for err in exc.errors()
    ]


def parse(raw: bytes, *, max_rows: int) -> tuple[list[tuple[int, DeviceCreate]], RowErrors]:
    """Valid rows and the errors of the others, each by its row number as a spreadsheet shows
    it (the header is row 1). File-level problems raise at once; row errors are returned so
    that the caller reports them together with its cross-row and database checks."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("CSV must be UTF-8", code="CSV_INVALID") from exc
    if "\x00" in text:
        raise InvalidInput("CSV must not contain NUL bytes", code="CSV_INVALID")
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise InvalidInput(f"CSV header unreadable: {exc}", code="CSV_INVALID") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown or len(set(header)) != len(header):
        raise InvalidInput(
            "CSV header must name the columns "
            f"{', '.join(REQUIRED_COLUMNS)} and optionally {', '.join(OPTIONAL_COLUMNS)}",
            code="CSV_INVALID",
            details={"missing": missing, "unknown": unknown},
        )
    reader.fieldnames = header

    parsed: list[tuple[int, DeviceCreate]] = []
    errors: RowErrors = {}
    # Records, not physical lines: a quoted value may span lines (`reader.line_num` counts
    # lines), and a spreadsheet shows one row per record.
    number = 1
    try:
        for row in reader:
            number += 1
            if number - 1 > max_rows:
                raise InvalidInput(f"CSV has more than {max_rows} rows", code="CSV_TOO_MANY_ROWS")
            if None in row:
                errors[number] = ["more values than columns"]
                continue
            try:
                parsed.append((number, DeviceCreate.model_validate(_row_to_fields(row))))
            except ValidationError as exc:
                errors[number] = _describe(exc)
            except ValueError as exc:
                errors[number] = [str(exc)]
    except csv.Error as exc:
        raise InvalidInput(
            f"CSV unreadable at row {number + 1}: {exc}", code="CSV_INVALID"
        ) from exc
    if not parsed and not errors:
        raise InvalidInput("CSV has no data rows", code="CSV_EMPTY")
    return parsed, errors


def invalid(errors: RowErrors) -> InvalidInput:
    """The one answer for an import with invalid rows: every row with every problem."""
    return InvalidInput(
        f"{len(errors)} row(s) are invalid; nothing was imported",
        code="IMPORT_INVALID",
        details={"rows": [{"row": n, "errors": e} for n, e in sorted(errors.items())]},
    )
