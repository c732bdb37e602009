"""Every accepted payload form and every rejection reason of the shared parser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from gito.telemetry.payloads import MAX_PAYLOAD_BYTES, PayloadError, Reason, parse

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_flat_object_with_aliases_and_types() -> None:
    (reading,) = parse(b'{"temp": 21.5, "hum": 40, "batt": 87, "ok": true, "mode": "eco"}', now=NOW)
    assert reading.ts is None
    assert reading.values == {
        "temperature": 21.5,
        "humidity": 40,
        "battery": 87,
        "ok": True,
        "mode": "eco",
    }


def test_explicit_name_wins_over_alias() -> None:
    (reading,) = parse(b'{"temp": 1, "temperature": 2}', now=NOW)
    assert reading.values == {"temperature": 2}


def test_ts_and_values_form_epoch_ms_and_seconds_and_iso() -> None:
    ms = int((NOW - timedelta(minutes=5)).timestamp() * 1000)
    (a,) = parse(orjson.dumps({"ts": ms, "values": {"t": 1}}), now=NOW)
    (b,) = parse(orjson.dumps({"ts": ms / 1000, "values": {"t": 1}}), now=NOW)
    (c,) = parse(b'{"ts": "2026-11-27T11:55:00Z", "values": {"t": 1}}', now=NOW)
    (d,) = parse(b'{"ts": "2026-11-27T11:55:00", "t": 1}', now=NOW)  # flat with ts; naive = UTC
    assert a.ts == b.ts == c.ts == d.ts == NOW - timedelta(minutes=5)
    assert d.values == {"t": 1}


def test_array_of_messages_and_nested_objects_flatten() -> None:
    readings = parse(
        b'[{"ts": "2026-11-27T11:00:00Z",'
        b' "values": {"temperatureSensor": {"1": 25, "2": {"x": 1}}}},'
        b' {"a": null, "b": 2}]',
        now=NOW,
    )
    assert readings[0].values == {"temperatureSensor.1": 25, "temperatureSensor.2.x": 1}
    assert readings[1].values == {"b": 2}  # nulls are dropped


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"x" * (MAX_PAYLOAD_BYTES + 1), Reason.TOO_LARGE),
        (b'{"a": "\xff"}', Reason.INVALID_UTF8),
        (b"{not json", Reason.INVALID_JSON),
        (b'{"a": NaN}', Reason.NON_FINITE),
        (b'{"a": Infinity}', Reason.NON_FINITE),
        (b'{"a": 1e400}', Reason.NON_FINITE),
        (b"42", Reason.NOT_OBJECT),
        (b'["a"]', Reason.NOT_OBJECT),
        (b"[]", Reason.NO_VALUES),
        (b"{}", Reason.NO_VALUES),
        (b'{"a": [1, 2]}', Reason.INVALID_VALUE),
        (b'{"a": "' + b"x" * 300 + b'"}', Reason.INVALID_VALUE),
        (b'{"a": 9007199254740993}', Reason.INVALID_VALUE),
        (b'{"": 1}', Reason.INVALID_KEY),
        (b'{"ts": "yesterday", "a": 1}', Reason.INVALID_TS),
        (b'{"ts": true, "a": 1}', Reason.INVALID_TS),
        (b'{"ts": "1999-12-31T23:59:59Z", "a": 1}', Reason.TS_TOO_OLD),
        (b'{"ts": "2026-11-28T12:00:01Z", "a": 1}', Reason.TS_FUTURE),
    ],
)
def test_rejections(payload: bytes, reason: Reason) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(payload, now=NOW)
    assert caught.value.reason is reason


def test_too_many_keys() -> None:
    payload = orjson.dumps({f"k{i}": i for i in range(201)})
    with pytest.raises(PayloadError) as caught:
        parse(payload, now=NOW)
    assert caught.value.reason is Reason.TOO_MANY_KEYS
    assert len(parse(orjson.dumps({f"k{i}": i for i in range(200)}), now=NOW)[0].values) == 200


def test_too_deep_nesting_is_rejected() -> None:
    nested: dict[str, object] = {"v": 1}
    for _ in range(10):
        nested = {"n": nested}
    with pytest.raises(PayloadError) as caught:
        parse(orjson.dumps(nested), now=NOW)
    assert caught.value.reason is Reason.INVALID_VALUE


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        # Invalid UTF-8 is reported as such whether or not the rest is valid JSON.
        (b'{"a": 1}\xff', Reason.INVALID_UTF8),
        (b'{not json \xff"', Reason.INVALID_UTF8),
        (b'{"a": "\xed\xa0\x80"}', Reason.INVALID_UTF8),  # an encoded surrogate
        (b'{"a": "\xc0\xaf"}', Reason.INVALID_UTF8),  # an overlong encoding
        (b'{"a": -9007199254740993}', Reason.INVALID_VALUE),
        (b'{"a": {"b": [1]}}', Reason.INVALID_VALUE),
        (b'{"a\\n": 1}', Reason.INVALID_KEY),
        (b'{"' + b"k" * 129 + b'": 1}', Reason.INVALID_KEY),
        (b'{"values": {"' + b"k" * 129 + b'": 1}}', Reason.INVALID_KEY),
        # Each part is short enough; the dotted name is not.
        (b'{"' + b"a" * 100 + b'": {"' + b"b" * 28 + b'": 1}}', Reason.INVALID_KEY),
        (b'{"a": {"b": 1e400}}', Reason.NON_FINITE),
        (b'{"ts": 1e400, "a": 1}', Reason.NON_FINITE),
    ],
)
def test_more_rejections(payload: bytes, reason: Reason) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(payload, now=NOW)
    assert caught.value.reason is reason


def test_limits_are_inclusive() -> None:
    (reading,) = parse(
        b'{"a": 9007199254740992, "b": -9007199254740992, "'
        + b"k" * 128
        + b'": "'
        + b"x" * 256
        + b'", "n": {"'
        + b"c" * 126
        + b'": false}}',
        now=NOW,
    )
    assert reading.values == {
        "a": 2**53,
        "b": -(2**53),
        "k" * 128: "x" * 256,
        "n." + "c" * 126: False,
    }


def test_values_object_is_the_explicit_form_only_beside_ts_alone() -> None:
    (explicit,) = parse(b'{"values": {"temp": 1}}', now=NOW)
    assert explicit.ts is None
    assert explicit.values == {"temperature": 1}
    # With another key beside it, "values" is an ordinary nested object and flattens.
    (flat,) = parse(b'{"ts": "2026-11-27T11:00:00Z", "values": {"t": 1}, "x": 2}', now=NOW)
    assert flat.ts == datetime(2026, 11, 27, 11, 0, tzinfo=UTC)
    assert flat.values == {"values.t": 1, "x": 2}
    (scalar,) = parse(b'{"values": 5}', now=NOW)
    assert scalar.values == {"values": 5}
