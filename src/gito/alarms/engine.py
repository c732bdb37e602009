"""Alarm rule evaluation in the telemetry write path, and no-data evaluation for the scheduler.

`ENGINE.evaluate` runs inside the batch transaction, right after the telemetry insert and with
the tenant bound, so alarms commit atomically with the data that raised them. Its hot path
does no per-message query: rules come from an in-memory index per tenant (checked against
`alert_rule_versions`, which a trigger bumps on every rule change, once per batch), devices'
type and site from a small cache, and the (rule, device) state it needs from one query per
batch. Each row meets only the rules indexed under its keys and its device's scope.
"""

from __future__ import annotations

import operator as op
import time
import uuid
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson

from gito.alarms.schemas import SEVERITY_RANK

Value = float | int | bool | str
Row = tuple[uuid.UUID, datetime, dict[str, Any]]
Event = dict[str, Any]
# None: the value's type does not fit the condition, so it says nothing either way.
Test = Callable[[Any], bool | None]

# A device's type and site change rarely; a minute of staleness only delays which
# type/site-scoped rules see it.
DEVICE_INFO_TTL_S = 60.0
DEVICE_INFO_MAX = 200_000
# Safety net behind the version check (e.g. a version row edited by hand).
RULES_TTL_S = 300.0

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    ">": op.gt,
    ">=": op.ge,
    "<": op.lt,
    "<=": op.le,
}


def compile_test(operator: str, target: Any) -> Test:
    """A predicate for one condition. Booleans compare only with booleans, strings with
    strings, numbers with numbers (a boolean is not the number 1 here)."""
    if isinstance(target, bool):
        equal = operator == "=="

        def test_bool(v: Any) -> bool | None:
            return (v == target) is equal if isinstance(v, bool) else None

        return test_bool
    if isinstance(target, str):
        equal = operator == "=="

        def test_str(v: Any) -> bool | None:
            return (v == target) is equal if isinstance(v, str) else None

        return test_str
    if operator in ("between", "outside"):
        low, high = float(target[0]), float(target[1])
        inside = operator == "between"

        def test_range(v: Any) -> bool | None:
            if isinstance(v, bool) or not isinstance(v, int | float):
                return None
            return (low <= v <= high) is inside

        return test_range
    compare: Callable[[Any, Any], bool] = _ORDER.get(operator, op.eq if operator == "==" else op.ne)
    number = float(target)

    def test_number(v: Any) -> bool | None:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return None
        return compare(v, number)

    return test_number


@dataclass(slots=True, eq=False)  # identity: one object per rule and index
class CompiledRule:
    id: uuid.UUID
    name: str
    field: str
    # (test, severity, rank), worst first: a value takes the severity of the worst it meets.
    thresholds: list[tuple[Test, str, int]]
    clear: Test | None
    duration: timedelta
    cooldown: timedelta
    # Numeric comparisons only (the common rule): [(compare, number, severity), ...] worst
    # first, evaluated inline by the hot loop without the two function calls of `level`.
    fast: list[tuple[Callable[[Any, Any], bool], float, str]] | None = None

    def level(self, value: Any) -> str | None:
        """The severity this value breaches, "" when it breaches none, None when its type
        does not fit the rule."""
        if len(self.thresholds) == 1:  # the common case, without the loop
            test, severity, _ = self.thresholds[0]
            hit = test(value)
            return None if hit is None else (severity if hit else "")
        for test, severity, _ in self.thresholds:
            hit = test(value)
            if hit is None:
                return None
            if hit:
                return severity
        return ""


def compile_rule(record: Any) -> CompiledRule:
    thresholds = (
        orjson.loads(record["thresholds"])
        if isinstance(record["thresholds"], str)
        else record["thresholds"]
    )
    compiled = [
        (compile_test(t["operator"], t["value"]), t["severity"], SEVERITY_RANK[t["severity"]])
        for t in thresholds
    ]
    compiled.sort(key=lambda t: -t[2])
    clear = record["clear_condition"]
    if isinstance(clear, str):
        clear = orjson.loads(clear)
    entries: list[tuple[Callable[[Any, Any], bool], float, str]] = []
    for t in sorted(thresholds, key=lambda t: -SEVERITY_RANK[t["severity"]]):
        target, severity = t["value"], t["severity"]
        if t["operator"] == "outside":  # below low or above high
            entries += [(op.lt, float(target[0]), severity), (op.gt, float(target[1]), severity)]
        elif (
            t["operator"] in _FAST
            and isinstance(target, int | float)
            and not isinstance(target, bool)
        ):
            entries.append((_FAST[t["operator"]], float(target), severity))
        else:
            entries = []
            break
    fast = entries or None
    return CompiledRule(
        id=record["id"],
        name=record["name"],
        field=record["field"],
        thresholds=compiled,
        clear=compile_test(clear["operator"], clear["value"]) if clear else None,
        duration=timedelta(seconds=record["duration_s"]),
        cooldown=timedelta(seconds=record["cooldown_s"]),
        fast=fast,
    )


_FAST: dict[str, Callable[[Any, Any], bool]] = {**_ORDER, "==": op.eq}
_FAST_NAME = {compare: name for name, compare in _FAST.items()}


@dataclass(slots=True)
class _Scoped:
    """The rules of one field, by scope."""

    tenant: list[CompiledRule] = field(default_factory=list)
    device: dict[uuid.UUID, list[CompiledRule]] = field(default_factory=dict)
    device_type: dict[str, list[CompiledRule]] = field(default_factory=dict)
    site: dict[uuid.UUID, list[CompiledRule]] = field(default_factory=dict)

    def matching(
        self, device: uuid.UUID, info: tuple[str, uuid.UUID | None] | None
    ) -> list[CompiledRule]:
        found = list(self.tenant)
        found.extend(self.device.get(device, ()))
        if info is not None:
            found.extend(self.device_type.get(info[0], ()))
            if info[1] is not None:
                found.extend(self.site.get(info[1], ()))
        return found


class FieldPlan:
    """The rules of one device and field, arranged so that a numeric reading finds the
    thresholds it breaches by binary search instead of testing every rule: per operator,
    the thresholds sorted, with their rules alongside. A rule with several thresholds appears
    once per threshold (a hit on any means a breach; `level` then picks the severity).
    Rules with other conditions (booleans, strings, ranges, `!=`) are tested one by one."""

    __slots__ = ("eq", "ge", "gt", "ids", "le", "lt", "safe", "slow")

    def __init__(self, rules: list[CompiledRule]) -> None:
        self.ids = frozenset(r.id for r in rules)
        self.slow = [r for r in rules if r.fast is None]
        entries: dict[str, list[tuple[float, CompiledRule]]] = defaultdict(list)
        self.eq: dict[float, list[CompiledRule]] = defaultdict(list)
        for rule in rules:
            for compare, target, _ in rule.fast or ():
                if compare is op.eq:
                    self.eq[target].append(rule)
                else:
                    entries[_FAST_NAME[compare]].append((target, rule))
        self.gt, self.ge, self.lt, self.le = (
            ([t for t, _ in e], [r for _, r in e])
            for e in (sorted(entries[o], key=lambda x: x[0]) for o in (">", ">=", "<", "<="))
        )

        # The interval of values that meet no threshold at all, as (above_le, above_lt,
        # below_ge, below_gt): the common reading is inside it and costs one comparison.
        inf = float("inf")
        self.safe = (
            self.le[0][-1] if self.le[0] else -inf,  # value > every `<=` target
            self.lt[0][-1] if self.lt[0] else -inf,  # value >= every `<` target
            self.ge[0][0] if self.ge[0] else inf,  # value < every `>=` target
            self.gt[0][0] if self.gt[0] else inf,  # value <= every `>` target
        )

    def breached(self, value: float) -> list[CompiledRule]:
        """The rules with a numeric threshold this value meets."""
        above_le, above_lt, below_ge, below_gt = self.safe
        if above_le < value < below_ge and above_lt <= value <= below_gt and not self.eq:
            return []
        hits: list[CompiledRule] = []
        targets, rules = self.gt  # target < value
        if targets:
            hits.extend(rules[: bisect_left(targets, value)])
        targets, rules = self.ge  # target <= value
        if targets:
            hits.extend(rules[: bisect_right(targets, value)])
        targets, rules = self.lt  # target > value
        if targets:
            hits.extend(rules[bisect_right(targets, value) :])
        targets, rules = self.le  # target >= value
        if targets:
            hits.extend(rules[bisect_left(targets, value) :])
        if self.eq:
            hits.extend(self.eq.get(value, ()))
        return hits


DeviceInfo = tuple[str, uuid.UUID | None]


@dataclass(slots=True)
class RuleIndex:
    version: int
    loaded_at: float
    by_field: dict[str, _Scoped]
    count: int
    rules: dict[uuid.UUID, CompiledRule] = field(default_factory=dict)
    # Per device: the rules that apply to it, by field (resolved once per device and index).
    resolved: dict[uuid.UUID, tuple[DeviceInfo | None, dict[str, FieldPlan]]] = field(
        default_factory=dict
    )

    def for_device(self, device: uuid.UUID, info: DeviceInfo | None) -> dict[str, FieldPlan]:
        entry = self.resolved.get(device)
        if entry is not None and entry[0] == info:
            return entry[1]
        fields = {}
        for name, scoped in self.by_field.items():
            rules = scoped.matching(device, info)
            if rules:
                fields[name] = FieldPlan(rules)
        if len(self.resolved) > DEVICE_INFO_MAX:
            self.resolved.clear()
        self.resolved[device] = (info, fields)
        return fields


_RULES = """
SELECT id, name, field, thresholds, clear_condition, duration_s, cooldown_s,
       device_id, device_type, site_id
FROM alert_rules WHERE enabled AND kind = 'threshold'
"""


async def _load_index(conn: asyncpg.Connection, version: int) -> RuleIndex:
    by_field: dict[str, _Scoped] = {}
    by_id: dict[uuid.UUID, CompiledRule] = {}
    records = await conn.fetch(_RULES)
    for r in records:
        rule = by_id[r["id"]] = compile_rule(r)
        scoped = by_field.setdefault(rule.field, _Scoped())
        if r["device_id"] is not None:
            scoped.device.setdefault(r["device_id"], []).append(rule)
        elif r["device_type"] is not None:
            scoped.device_type.setdefault(r["device_type"], []).append(rule)
        elif r["site_id"] is not None:
            scoped.site.setdefault(r["site_id"], []).append(rule)
        else:
            scoped.tenant.append(rule)
    return RuleIndex(version, time.monotonic(), by_field, len(records), by_id)


# The stored state of the batch's devices: their open alarms and (rule, device) states.
# By device, not by (rule, device) pair: it returns only rows that exist (few), however many
# pairs the batch touched, and both halves use an index on device_id.
_STATE = """
SELECT a.rule_id, a.device_id, NULL::timestamptz AS breaching_since,
       NULL::timestamptz AS last_cleared_at, a.id AS alarm_id, a.severity, a.status, a.count
FROM alarms a WHERE a.device_id = ANY($1::uuid[]) AND a.status <> 'CLEARED'
UNION ALL
SELECT s.rule_id, s.device_id, s.breaching_since, s.last_cleared_at, NULL, NULL, NULL, NULL
FROM alert_rule_state s
WHERE s.device_id = ANY($1::uuid[])
  AND (s.breaching_since IS NOT NULL OR s.last_cleared_at IS NOT NULL)
"""
_SEVERITIES = "ARRAY['WARNING','MINOR','MAJOR','CRITICAL']"
_UPDATE_ALARMS = f"""
UPDATE alarms a SET
  count = a.count + u.delta,
  last_value = COALESCE(u.last_value, a.last_value),
  last_occurrence = greatest(a.last_occurrence, u.last_ts),
  severity = CASE WHEN array_position({_SEVERITIES}, u.severity)
                       > array_position({_SEVERITIES}, a.severity)
             THEN u.severity ELSE a.severity END,
  status = CASE WHEN u.cleared_at IS NULL THEN a.status ELSE 'CLEARED' END,
  cleared_at = COALESCE(u.cleared_at, a.cleared_at),
  updated_at = now()
FROM unnest($1::uuid[], $2::int[], $3::jsonb[], $4::timestamptz[], $5::text[],
            $6::timestamptz[]) AS u(id, delta, last_value, last_ts, severity, cleared_at)
WHERE a.id = u.id AND a.status <> 'CLEARED'
"""  # noqa: S608 (constant SQL fragments, no input)
# A concurrent processor may have opened the same (rule, device) alarm: merge into it.
_INSERT_ALARMS = f"""
INSERT INTO alarms AS a (id, tenant_id, rule_id, device_id, site_id, rule_name, field,
  severity, status, count, first_value, last_value, first_occurrence, last_occurrence,
  cleared_at)
SELECT u.id, $1, u.rule_id, u.device_id, u.site_id, u.rule_name, u.field, u.severity,
  CASE WHEN u.cleared_at IS NULL THEN 'ACTIVE' ELSE 'CLEARED' END, u.count, u.first_value,
  u.last_value, u.first_ts, u.last_ts, u.cleared_at
FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::text[],
            $8::text[], $9::int[], $10::jsonb[], $11::jsonb[], $12::timestamptz[],
            $13::timestamptz[], $14::timestamptz[])
  AS u(id, rule_id, device_id, site_id, rule_name, field, severity, count, first_value,
       last_value, first_ts, last_ts, cleared_at)
ON CONFLICT (rule_id, device_id) WHERE status <> 'CLEARED' DO UPDATE SET
  count = a.count + EXCLUDED.count,
  last_value = EXCLUDED.last_value,
  last_occurrence = greatest(a.last_occurrence, EXCLUDED.last_occurrence),
  severity = CASE WHEN array_position({_SEVERITIES}, EXCLUDED.severity)
                       > array_position({_SEVERITIES}, a.severity)
             THEN EXCLUDED.severity ELSE a.severity END,
  updated_at = now()
RETURNING a.id
"""  # noqa: S608 (constant SQL fragments, no input)
_UPSERT_STATE = """
INSERT INTO alert_rule_state (rule_id, device_id, tenant_id, breaching_since, last_cleared_at)
SELECT u.rule_id, u.device_id, $1, u.since, u.cleared
FROM unnest($2::uuid[], $3::uuid[], $4::timestamptz[], $5::timestamptz[])
  AS u(rule_id, device_id, since, cleared)
ON CONFLICT (rule_id, device_id) DO UPDATE
SET breaching_since = EXCLUDED.breaching_since, last_cleared_at = EXCLUDED.last_cleared_at
"""
_HISTORY = """
INSERT INTO alarm_events (tenant_id, alarm_id, action, severity, value, created_at)
SELECT $1, u.alarm_id, u.action, u.severity, u.value, u.at
FROM unnest($2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::timestamptz[])
  AS u(alarm_id, action, severity, value, at)
"""


@dataclass(slots=True)
class _Alarm:
    id: uuid.UUID
    severity: str
    status: str
    count: int
    new: bool
    delta: int = 0
    first_value: Any = None
    last_value: Any = None
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    cleared_at: datetime | None = None


@dataclass(slots=True)
class _Changes:
    updated: list[_Alarm] = field(default_factory=list)
    created: list[tuple[CompiledRule, uuid.UUID, _Alarm]] = field(default_factory=list)
    state: list[tuple[uuid.UUID, uuid.UUID, datetime | None, datetime | None]] = field(
        default_factory=list
    )
    # (alarm id, action, severity, value, at)
    history: list[tuple[uuid.UUID, str, str, Any, datetime]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def alarm_event(
    action: str,
    alarm_id: uuid.UUID,
    rule_id: uuid.UUID,
    device_id: uuid.UUID,
    severity: str,
    status: str,
    count: int,
    value: Any = None,
    at: datetime | None = None,
) -> Event:
    """The live event of an alarm change (`{"type": "alarm", ...}` on the WebSocket)."""
    return {
        "type": "alarm",
        "action": action,
        "alarm_id": str(alarm_id),
        "rule_id": str(rule_id),
        "device_id": str(device_id),
        "severity": severity,
        "status": status,
        "count": count,
        "value": value,
        "ts": at.isoformat() if at else None,
    }


def _run_pair(
    rule: CompiledRule,
    device: uuid.UUID,
    readings: list[tuple[datetime, Any, str]],
    state: Any,
    changes: _Changes,
) -> None:
    """Walk one (rule, device)'s readings of the batch in time order through the alarm
    lifecycle: raise after `duration`, count repeats, escalate, clear (hysteresis)."""
    since: datetime | None = state["breaching_since"] if state else None
    last_cleared: datetime | None = state["last_cleared_at"] if state else None
    orig = (since, last_cleared)
    alarm: _Alarm | None = None
    if state is not None and state["alarm_id"] is not None:
        alarm = _Alarm(state["alarm_id"], state["severity"], state["status"], state["count"], False)
    touched: _Alarm | None = alarm
    readings.sort(key=lambda r: r[0])
    for ts, value, level in readings:
        if level:
            if since is None or ts < since:
                since = ts
            if alarm is not None:
                alarm.delta += 1
                alarm.count += 1
                alarm.last_value = value
                alarm.last_ts = ts if alarm.last_ts is None else max(alarm.last_ts, ts)
                if SEVERITY_RANK[level] > SEVERITY_RANK[alarm.severity]:
                    alarm.severity = level
                    changes.history.append((alarm.id, "escalated", level, value, ts))
                    changes.events.append(
                        alarm_event(
                            "escalated",
                            alarm.id,
                            rule.id,
                            device,
                            level,
                            alarm.status,
                            alarm.count,
                            value,
                            ts,
                        )
                    )
            elif ts - since >= rule.duration and (
                # No cooldown: a breach raises at once, even one timed before a manual clear
                # (clears are stamped with the server clock, readings with the device's).
                last_cleared is None or not rule.cooldown or ts - last_cleared >= rule.cooldown
            ):
                alarm = _Alarm(uuid.uuid4(), level, "ACTIVE", 1, True, 1, value, value, ts, ts)
                changes.created.append((rule, device, alarm))
                changes.history.append((alarm.id, "raised", level, value, ts))
                changes.events.append(
                    alarm_event("raised", alarm.id, rule.id, device, level, "ACTIVE", 1, value, ts)
                )
        else:
            since = None
            if alarm is not None and (rule.clear is None or rule.clear(value) is True):
                alarm.cleared_at = ts
                alarm.status = "CLEARED"
                alarm.last_ts = alarm.last_ts or ts
                if rule.cooldown:  # kept only where it matters: fewer state writes
                    last_cleared = ts
                changes.history.append((alarm.id, "cleared", alarm.severity, value, ts))
                changes.events.append(
                    alarm_event(
                        "cleared",
                        alarm.id,
                        rule.id,
                        device,
                        alarm.severity,
                        "CLEARED",
                        alarm.count,
                        value,
                        ts,
                    )
                )
                alarm = None
    if touched is not None and (touched.delta or touched.cleared_at):
        changes.updated.append(touched)
    if (since, last_cleared) != orig:
        changes.state.append((rule.id, device, since, last_cleared))


class AlarmEngine:
    """Per process: rule indexes per tenant and a device type/site cache."""

    def __init__(self) -> None:
        self._indexes: dict[uuid.UUID, RuleIndex] = {}
        self._devices: dict[uuid.UUID, tuple[str, uuid.UUID | None, float]] = {}

    def invalidate(self, tenant_id: uuid.UUID | None = None) -> None:
        if tenant_id is None:
            self._indexes.clear()
        else:
            self._indexes.pop(tenant_id, None)

    async def rules(self, conn: asyncpg.Connection, tenant_id: uuid.UUID) -> RuleIndex:
        """The tenant's enabled threshold rules (the tenant must be bound on `conn`)."""
        version = await conn.fetchval(
            "SELECT version FROM alert_rule_versions WHERE tenant_id = $1", tenant_id
        )
        version = version or 0
        index = self._indexes.get(tenant_id)
        if (
            index is None
            or index.version != version
            or time.monotonic() - index.loaded_at > RULES_TTL_S
        ):
            index = await _load_index(conn, version)
            self._indexes[tenant_id] = index
        return index

    async def _device_info(
        self, conn: asyncpg.Connection, devices: set[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[str, uuid.UUID | None]]:
        now = time.monotonic()
        found: dict[uuid.UUID, tuple[str, uuid.UUID | None]] = {}
        missing = []
        for device in devices:
            entry = self._devices.get(device)
            if entry is not None and entry[2] > now:
                found[device] = (entry[0], entry[1])
            else:
                missing.append(device)
        if missing:
            if len(self._devices) + len(missing) > DEVICE_INFO_MAX:
                self._devices.clear()
            rows = await conn.fetch(
                "SELECT id, device_type, site_id FROM devices WHERE id = ANY($1::uuid[])", missing
            )
            for r in rows:
                self._devices[r["id"]] = (r["device_type"], r["site_id"], now + DEVICE_INFO_TTL_S)
                found[r["id"]] = (r["device_type"], r["site_id"])
        return found

    async def evaluate(
        self, conn: asyncpg.Connection, tenant_id: uuid.UUID, rows: list[Row]
    ) -> list[Event]:
        """Evaluate one tenant's stored rows of a batch; returns the live events."""
        index = await self.rules(conn, tenant_id)
        if not index.count or not rows:
            return []
        info = await self._device_info(conn, {device for device, _, _ in rows})
        # Pass 1, the hot loop: only breaches are collected. Most readings breach nothing,
        # and a non-breaching reading matters only to a pair with stored state (pass 2).
        breached: dict[tuple[uuid.UUID, uuid.UUID], CompiledRule] = {}
        by_device: dict[uuid.UUID, list[tuple[datetime, dict[str, Any]]]] = {}
        for device, ts, values in rows:
            device_rows = by_device.get(device)
            if device_rows is None:
                by_device[device] = device_rows = []
            device_rows.append((ts, values))
        # Per device, not per row: the rule plan is looked up once for all its readings.
        for device in list(by_device):
            plans = index.for_device(device, info.get(device))
            if not plans:
                del by_device[device]
                continue
            for _, values in by_device[device]:
                for key, plan in plans.items():
                    if key not in values:
                        continue
                    value = values[key]
                    if type(value) is int or type(value) is float:
                        for rule in plan.breached(value):
                            breached[(rule.id, device)] = rule
                    for rule in plan.slow:
                        if rule.level(value):
                            breached[(rule.id, device)] = rule
        if not by_device:
            return []
        records = await conn.fetch(_STATE, list(by_device))
        states: dict[tuple[uuid.UUID, uuid.UUID], dict[str, Any]] = {}
        for r in records:
            found = (r["rule_id"], r["device_id"])
            state = states.setdefault(
                found,
                {"breaching_since": None, "last_cleared_at": None, "alarm_id": None},
            )
            if r["alarm_id"] is not None:
                state.update(
                    alarm_id=r["alarm_id"],
                    severity=r["severity"],
                    status=r["status"],
                    count=r["count"],
                )
            else:
                state.update(
                    breaching_since=r["breaching_since"], last_cleared_at=r["last_cleared_at"]
                )
        # Pass 2: the full reading sequence of each pair that breached or has state.
        work: dict[tuple[uuid.UUID, uuid.UUID], CompiledRule] = dict(breached)
        for pair in states:
            if pair in work:
                continue
            known = index.rules.get(pair[0])
            if known is None:
                continue  # no-data rules, disabled or deleted rules: not evaluated here
            applicable = index.for_device(pair[1], info.get(pair[1])).get(known.field)
            if applicable is not None and known.id in applicable.ids:
                work[pair] = known
        changes = _Changes()
        for pair in sorted(work):  # one lock order for every processor: no deadlocks
            rule = work[pair]
            readings = []
            for ts, values in by_device[pair[1]]:
                if rule.field in values:
                    value = values[rule.field]
                    level = rule.level(value)
                    if level is not None:
                        readings.append((ts, value, level))
            if readings:
                _run_pair(rule, pair[1], readings, states.get(pair), changes)
        await self._write(conn, tenant_id, changes, info)
        return changes.events

    async def _write(
        self,
        conn: asyncpg.Connection,
        tenant_id: uuid.UUID,
        changes: _Changes,
        info: dict[uuid.UUID, tuple[str, uuid.UUID | None]],
    ) -> None:
        if changes.updated:
            u = changes.updated
            await conn.execute(
                _UPDATE_ALARMS,
                [a.id for a in u],
                [a.delta for a in u],
                [_json(a.last_value) if a.delta else None for a in u],
                [a.last_ts for a in u],
                [a.severity for a in u],
                [a.cleared_at for a in u],
            )
        kept: set[uuid.UUID] = set()
        if changes.created:
            c = changes.created
            returned = await conn.fetch(
                _INSERT_ALARMS,
                tenant_id,
                [a.id for _, _, a in c],
                [r.id for r, _, _ in c],
                [d for _, d, _ in c],
                [info.get(d, ("", None))[1] for _, d, _ in c],
                [r.name for r, _, _ in c],
                [r.field for r, _, _ in c],
                [a.severity for _, _, a in c],
                [a.count for _, _, a in c],
                [_json(a.first_value) for _, _, a in c],
                [_json(a.last_value) for _, _, a in c],
                [a.first_ts for _, _, a in c],
                [a.last_ts for _, _, a in c],
                [a.cleared_at for _, _, a in c],
            )
            kept = {r["id"] for r in returned}
        if changes.state:
            s = changes.state
            await conn.execute(
                _UPSERT_STATE,
                tenant_id,
                [x[0] for x in s],
                [x[1] for x in s],
                [x[2] for x in s],
                [x[3] for x in s],
            )
        created = {a.id for _, _, a in changes.created}
        # A new alarm merged into one another processor opened has no row of its own.
        history = [h for h in changes.history if h[0] not in created or h[0] in kept]
        if history:
            await conn.execute(
                _HISTORY,
                tenant_id,
                [h[0] for h in history],
                [h[1] for h in history],
                [h[2] for h in history],
                [_json(h[3]) for h in history],
                [h[4] for h in history],
            )


ENGINE = AlarmEngine()


# --- no-data rules (run by the scheduler) -------------------------------------------------

_NO_DATA_RULES = """
SELECT id, name, severity, device_id, device_type, site_id, no_data_s, no_data_factor
FROM alert_rules WHERE enabled AND kind = 'no_data'
"""
# A device is silent when its last message (or, never seen, its creation) is older than the
# rule's window: a fixed `no_data_s`, or `no_data_factor` times its expected reporting interval
# (devices without one are not judged by such a rule).
_WINDOW = "make_interval(secs => COALESCE($3::float8, $4::float8 * d.expected_interval_s))"
_SCOPE = """
  ($5::uuid IS NULL OR d.id = $5) AND ($6::text IS NULL OR d.device_type = $6)
  AND ($7::uuid IS NULL OR d.site_id = $7)
"""
_RAISE_NO_DATA = f"""
INSERT INTO alarms (id, tenant_id, rule_id, device_id, site_id, rule_name, field, severity,
  status, count, first_occurrence, last_occurrence)
SELECT gen_random_uuid(), d.tenant_id, $1, d.id, d.site_id, $8, NULL, $9, 'ACTIVE', 1, $2, $2
FROM devices d
WHERE COALESCE(d.last_seen, d.created_at) < $2::timestamptz - {_WINDOW} AND {_SCOPE}
ON CONFLICT (rule_id, device_id) WHERE status <> 'CLEARED' DO NOTHING
RETURNING id, device_id, severity
"""  # noqa: S608 (constant SQL fragments, no input)
_CLEAR_NO_DATA = f"""
UPDATE alarms a SET status = 'CLEARED', cleared_at = $2, updated_at = now()
FROM devices d
WHERE a.rule_id = $1 AND a.device_id = d.id AND a.status <> 'CLEARED'
  AND NOT (COALESCE(d.last_seen, d.created_at) < $2::timestamptz - {_WINDOW}
           AND {_SCOPE})
RETURNING a.id, a.device_id, a.severity, a.count
"""  # noqa: S608 (constant SQL fragments, no input)


async def evaluate_no_data(conn: asyncpg.Connection, now: datetime) -> int:
    """Raise and clear no-data alarms of every tenant as of `now`; returns how many alarms
    changed. Each tenant is handled in its own transaction with the tenant bound (RLS), and
    its alarm events are NOTIFYed in that transaction."""
    from gito.events.bus import notify_in_transaction

    async with conn.transaction():
        await conn.execute("SELECT set_config('app.platform', 'on', true)")
        tenants = [r["id"] for r in await conn.fetch("SELECT id FROM tenants WHERE is_active")]
    changed = 0
    for tenant in tenants:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant))
            events: list[tuple[uuid.UUID, Event]] = []
            history: list[tuple[uuid.UUID, str, str]] = []
            for rule in await conn.fetch(_NO_DATA_RULES):
                args = (
                    rule["id"],
                    now,
                    rule["no_data_s"],
                    rule["no_data_factor"],
                    rule["device_id"],
                    rule["device_type"],
                    rule["site_id"],
                )
                for r in await conn.fetch(_RAISE_NO_DATA, *args, rule["name"], rule["severity"]):
                    history.append((r["id"], "raised", r["severity"]))
                    events.append(
                        (
                            tenant,
                            alarm_event(
                                "raised",
                                r["id"],
                                rule["id"],
                                r["device_id"],
                                r["severity"],
                                "ACTIVE",
                                1,
                                None,
                                now,
                            ),
                        )
                    )
                for r in await conn.fetch(_CLEAR_NO_DATA, *args):
                    history.append((r["id"], "cleared", r["severity"]))
                    events.append(
                        (
                            tenant,
                            alarm_event(
                                "cleared",
                                r["id"],
                                rule["id"],
                                r["device_id"],
                                r["severity"],
                                "CLEARED",
                                r["count"],
                                None,
                                now,
                            ),
                        )
                    )
            if history:
                await conn.execute(
                    _HISTORY,
                    tenant,
                    [h[0] for h in history],
                    [h[1] for h in history],
                    [h[2] for h in history],
                    [None] * len(history),
                    [now] * len(history),
                )
                await notify_in_transaction(conn, events)
            changed += len(history)
    return changed
