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

    __slots__ = ("eq", "ge", "gt", "hi", "ids", "le", "lo", "lt", "slow")

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

        # The open interval (lo, hi) of values that meet no numeric threshold: above every
        # `<`/`<=` target, below every `>`/`>=` one. Strict at both ends, so a value equal to
        # a `<` or `>` target takes the bisects, which are exact. With `==` targets there is
        # no such interval (an empty one: every value is searched).
        inf = float("inf")
        self.lo = max(self.lt[0][-1:] + self.le[0][-1:], default=-inf)
        self.hi = min(self.gt[0][:1] + self.ge[0][:1], default=inf)
        if self.eq:
            self.lo, self.hi = inf, -inf

    def breached(self, value: float) -> list[CompiledRule]:
        """The rules with a numeric threshold this value meets."""
        if self.lo < value < self.hi:
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


# What the hot loop needs of one device's field: (lo, hi, plan, slow rules). A number
# strictly inside (lo, hi) meets none of the field's rules; a field with rules that must see
# every reading (non-numeric conditions) has the empty interval (inf, -inf).
Check = tuple[float, float, FieldPlan, tuple[CompiledRule, ...]]


def _check(plan: FieldPlan) -> Check:
    if plan.slow:
        return (float("inf"), float("-inf"), plan, tuple(plan.slow))
    return (plan.lo, plan.hi, plan, ())


DeviceInfo = tuple[str, uuid.UUID | None]


@dataclass(slots=True)
class Resolved:
    """The rules that apply to one device, by field: plans for pass 2, checks for pass 1."""

    info: DeviceInfo | None
    plans: dict[str, FieldPlan]
    checks: dict[str, Check]


@dataclass(slots=True)
class RuleIndex:
    version: int
    loaded_at: float
    by_field: dict[str, _Scoped]
    count: int
    rules: dict[uuid.UUID, CompiledRule] = field(default_factory=dict)
    # Per device (by `UUID.int`: an int hashes in C, a UUID through a Python method), resolved
    # once per device and index.
    resolved: dict[int, Resolved] = field(default_factory=dict)

    def for_device(self, device: uuid.UUID, info: DeviceInfo | None) -> Resolved:
        entry = self.resolved.get(device.int)
        if entry is not None and entry.info == info:
            return entry
        plans = {}
        for name, scoped in self.by_field.items():
            rules = scoped.matching(device, info)
            if rules:
                plans[name] = FieldPlan(rules)
        if len(self.resolved) > DEVICE_INFO_MAX:
            self.resolved.clear()
        entry = self.resolved[device.int] = Resolved(
            info, plans, {name: _check(plan) for name, plan in plans.items()}
        )
        return entry


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


_VERSION = "SELECT version FROM alert_rule_versions WHERE tenant_id = $1"
# One round trip per batch: the tenant's rule version (is the in-memory index current?) and
# the stored state of the batch's devices that have rules: their open alarms and (rule,
# device) states. By device, not by (rule, device) pair: it returns only rows that exist
# (few), however many pairs the batch touched, and both halves use an index on device_id.
# The version comes on every row, and on a row of its own (state columns NULL) when the
# devices have no state.
_VERSION_AND_STATE = """
SELECT v.version, s.rule_id, s.device_id, s.breaching_since, s.last_cleared_at, s.alarm_id,
       s.severity, s.status, s.count
FROM (SELECT (SELECT version FROM alert_rule_versions WHERE tenant_id = $1) AS version) v
LEFT JOIN (
  SELECT a.rule_id, a.device_id, NULL::timestamptz AS breaching_since,
         NULL::timestamptz AS last_cleared_at, a.id AS alarm_id, a.severity, a.status, a.count
  FROM alarms a WHERE a.device_id = ANY($2::uuid[]) AND a.status <> 'CLEARED'
  UNION ALL
  SELECT s.rule_id, s.device_id, s.breaching_since, s.last_cleared_at, NULL, NULL, NULL, NULL
  FROM alert_rule_state s
  WHERE s.device_id = ANY($2::uuid[])
    AND (s.breaching_since IS NOT NULL OR s.last_cleared_at IS NOT NULL)
) s ON true
"""
_SEVERITIES = "ARRAY['WARNING','MINOR','MAJOR','CRITICAL']"


def _escalation(new: str, cleared: str | None = None) -> str:
    """The SET items of an alarm `a` that meets severity `new`: a worse one escalates it, and
    makes an acknowledged alarm ACTIVE again, withdrawing the acknowledgement (the
    `acknowledged` history row keeps who and when): the operator must see the new severity.
    Decided on the row as it is now, so an acknowledgement that committed after the batch read
    the state is withdrawn too. With `cleared` (a timestamp), the alarm clears instead."""
    worse = f"array_position({_SEVERITIES}, {new}) > array_position({_SEVERITIES}, a.severity)"
    items = []
    for column, value in (
        ("severity", new),
        ("status", "'ACTIVE'"),
        ("acknowledged_at", "NULL"),
        ("acknowledged_by", "NULL"),
        ("ack_comment", "NULL"),
    ):
        first = (
            f"WHEN {cleared} IS NOT NULL THEN 'CLEARED' " if cleared and column == "status" else ""
        )
        items.append(f"{column} = CASE {first}WHEN {worse} THEN {value} ELSE a.{column} END")
    return ",\n  ".join(items)


def _update_alarms(first: int) -> str:
    """Counts, last values, escalations and clears of open alarms; parameters from `first`."""
    ids, delta, value, ts, severity, cleared = (f"${first + i}" for i in range(6))
    return f"""
UPDATE alarms a SET
  count = a.count + u.delta,
  last_value = COALESCE(u.last_value, a.last_value),
  last_occurrence = greatest(a.last_occurrence, u.last_ts),
  {_escalation("u.severity", cleared="u.cleared_at")},
  cleared_at = COALESCE(u.cleared_at, a.cleared_at),
  updated_at = now()
FROM unnest({ids}::uuid[], {delta}::int[], {value}::jsonb[], {ts}::timestamptz[],
            {severity}::text[], {cleared}::timestamptz[])
  AS u(id, delta, last_value, last_ts, severity, cleared_at)
WHERE a.id = u.id AND a.status <> 'CLEARED'
"""  # noqa: S608 (constant SQL fragments, no input)


_UPDATE_ALARMS = _update_alarms(1)
# All of a batch's alarm changes in one statement: updates of open alarms, new alarms,
# (rule, device) states, history.
# - Each part runs after the previous one (a one-time filter on the previous one's output
#   runs it to completion first): a new alarm then sees the clear of the (rule, device)'s
#   previous alarm, and the lock order stays that of a manual clear (alarms, then states).
# - A concurrent processor may have opened the same (rule, device) alarm: a new alarm merges
#   into it, and its own history rows (known by `new`) are dropped with it.
# - The history is the main INSERT: one statement per batch on alarm_events, whose
#   notification outbox trigger is per statement and sees the alarms of this statement.
_CHANGES = f"""
WITH updated AS ({_update_alarms(2)} RETURNING a.id
), created AS (
  INSERT INTO alarms AS a (id, tenant_id, rule_id, device_id, site_id, rule_name, field,
    severity, status, count, first_value, last_value, first_occurrence, last_occurrence,
    cleared_at)
  SELECT u.id, $1, u.rule_id, u.device_id, u.site_id, u.rule_name, u.field, u.severity,
    CASE WHEN u.cleared_at IS NULL THEN 'ACTIVE' ELSE 'CLEARED' END, u.count, u.first_value,
    u.last_value, u.first_ts, u.last_ts, u.cleared_at
  FROM unnest($8::uuid[], $9::uuid[], $10::uuid[], $11::uuid[], $12::text[], $13::text[],
              $14::text[], $15::int[], $16::jsonb[], $17::jsonb[], $18::timestamptz[],
              $19::timestamptz[], $20::timestamptz[])
    AS u(id, rule_id, device_id, site_id, rule_name, field, severity, count, first_value,
         last_value, first_ts, last_ts, cleared_at)
  WHERE (SELECT count(*) FROM updated) >= 0
  ON CONFLICT (rule_id, device_id) WHERE status <> 'CLEARED' DO UPDATE SET
    count = a.count + EXCLUDED.count,
    last_value = EXCLUDED.last_value,
    last_occurrence = greatest(a.last_occurrence, EXCLUDED.last_occurrence),
    {_escalation("EXCLUDED.severity")},
    updated_at = now()
  RETURNING a.id
), states AS (
  INSERT INTO alert_rule_state (rule_id, device_id, tenant_id, breaching_since,
                                last_cleared_at)
  SELECT s.rule_id, s.device_id, $1, s.since, s.cleared
  FROM unnest($21::uuid[], $22::uuid[], $23::timestamptz[], $24::timestamptz[])
    AS s(rule_id, device_id, since, cleared)
  WHERE (SELECT count(*) FROM created) >= 0
  ON CONFLICT (rule_id, device_id) DO UPDATE
  SET breaching_since = EXCLUDED.breaching_since, last_cleared_at = EXCLUDED.last_cleared_at
)
INSERT INTO alarm_events (tenant_id, alarm_id, action, severity, value, comment, created_at)
SELECT $1, h.alarm_id, h.action, h.severity, h.value, h.comment, h.at
FROM unnest($25::uuid[], $26::text[], $27::text[], $28::jsonb[], $29::text[],
            $30::timestamptz[], $31::bool[])
  AS h(alarm_id, action, severity, value, comment, at, new)
WHERE NOT h.new OR h.alarm_id IN (SELECT id FROM created)
RETURNING alarm_id
"""  # noqa: S608 (constant SQL fragments, no input)
# States alone (a duration rule's breach began or ended): no empty INSERT on alarm_events,
# whose statement trigger would fire for nothing.
_UPSERT_STATE = """
INSERT INTO alert_rule_state (rule_id, device_id, tenant_id, breaching_since, last_cleared_at)
SELECT u.rule_id, u.device_id, $1, u.since, u.cleared
FROM unnest($2::uuid[], $3::uuid[], $4::timestamptz[], $5::timestamptz[])
  AS u(rule_id, device_id, since, cleared)
ON CONFLICT (rule_id, device_id) DO UPDATE
SET breaching_since = EXCLUDED.breaching_since, last_cleared_at = EXCLUDED.last_cleared_at
"""
# The no-data history (one statement per tenant and run).
_HISTORY = """
INSERT INTO alarm_events (tenant_id, alarm_id, action, severity, value, comment, created_at)
SELECT $1, u.alarm_id, u.action, u.severity, u.value, u.comment, u.at
FROM unnest($2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::text[], $7::timestamptz[])
  AS u(alarm_id, action, severity, value, comment, at)
"""
# The comment of the `escalated` history row of an alarm that was acknowledged.
REACTIVATED = "ACTIVE again: escalated while ACKNOWLEDGED"


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
    # (alarm id, action, severity, value, at, comment)
    history: list[tuple[uuid.UUID, str, str, Any, datetime, str | None]] = field(
        default_factory=list
    )
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
                    comment = None
                    if alarm.status == "ACKNOWLEDGED":  # the operator must look again
                        alarm.status, comment = "ACTIVE", REACTIVATED
                    changes.history.append((alarm.id, "escalated", level, value, ts, comment))
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
                changes.history.append((alarm.id, "raised", level, value, ts, None))
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
                changes.history.append((alarm.id, "cleared", alarm.severity, value, ts, None))
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


State = dict[str, Any]
Pair = tuple[uuid.UUID, uuid.UUID]  # (rule id, device id)


def _states(records: list[Any]) -> tuple[int, dict[Pair, State]]:
    """The rule version and the stored state by (rule, device) of a `_VERSION_AND_STATE`."""
    version = (records[0]["version"] or 0) if records else 0
    states: dict[Pair, State] = {}
    for r in records:
        if r["rule_id"] is None:
            continue  # the version's own row: no device of the batch has state
        state = states.get((r["rule_id"], r["device_id"]))
        if state is None:
            state = states[(r["rule_id"], r["device_id"])] = {
                "breaching_since": None,
                "last_cleared_at": None,
                "alarm_id": None,
            }
        if r["alarm_id"] is not None:
            state.update(
                alarm_id=r["alarm_id"], severity=r["severity"], status=r["status"], count=r["count"]
            )
        else:
            state.update(breaching_since=r["breaching_since"], last_cleared_at=r["last_cleared_at"])
    return version, states


def _scan(
    index: RuleIndex,
    groups: dict[int, list[Row]],
    info: dict[uuid.UUID, DeviceInfo],
) -> dict[Pair, CompiledRule]:
    """Pass 1, the hot loop: the (rule, device) pairs a reading of the batch breaches. Most
    readings breach nothing; a number inside its field's safe interval costs a dictionary
    look-up and one chained comparison."""
    breached: dict[Pair, CompiledRule] = {}
    for group in groups.values():
        device = group[0][0]
        checks = index.for_device(device, info.get(device)).checks
        if not checks:
            continue
        for _, _, values in group:
            for key, value in values.items():
                check = checks.get(key)
                if check is None:
                    continue
                lo, hi, plan, slow = check
                kind = type(value)
                if kind is float or kind is int:  # not bool: a boolean is not a number here
                    if lo < value < hi:
                        continue
                    for rule in plan.breached(value):
                        breached[(rule.id, device)] = rule
                for rule in slow:
                    if rule.level(value):
                        breached[(rule.id, device)] = rule
    return breached


class AlarmEngine:
    """Per process: rule indexes per tenant and a device type/site cache."""

    def __init__(self) -> None:
        self._indexes: dict[uuid.UUID, RuleIndex] = {}
        self._devices: dict[uuid.UUID, tuple[DeviceInfo, float]] = {}  # (info, expiry)

    def invalidate(self, tenant_id: uuid.UUID | None = None) -> None:
        if tenant_id is None:
            self._indexes.clear()
        else:
            self._indexes.pop(tenant_id, None)

    async def _device_info(
        self, conn: asyncpg.Connection, devices: list[uuid.UUID]
    ) -> dict[uuid.UUID, DeviceInfo]:
        now = time.monotonic()
        found: dict[uuid.UUID, DeviceInfo] = {}
        missing = []
        for device in devices:
            entry = self._devices.get(device)
            if entry is not None and entry[1] > now:
                found[device] = entry[0]
            else:
                missing.append(device)
        if missing:
            if len(self._devices) + len(missing) > DEVICE_INFO_MAX:
                self._devices.clear()
            rows = await conn.fetch(
                "SELECT id, device_type, site_id FROM devices WHERE id = ANY($1::uuid[])", missing
            )
            for r in rows:
                info = found[r["id"]] = (r["device_type"], r["site_id"])
                self._devices[r["id"]] = (info, now + DEVICE_INFO_TTL_S)
        return found

    async def evaluate(
        self, conn: asyncpg.Connection, tenant_id: uuid.UUID, rows: list[Row]
    ) -> list[Event]:
        """Evaluate one tenant's stored rows of a batch (the tenant bound on `conn`); returns
        the live events. One query per batch when nothing changes: the rule version and the
        stored state together."""
        if not rows:
            return []
        index = self._indexes.get(tenant_id)
        if index is not None and time.monotonic() - index.loaded_at > RULES_TTL_S:
            index = None
        if index is not None and not index.count:  # the tenant has no rules (still?)
            if ((await conn.fetchval(_VERSION, tenant_id)) or 0) == index.version:
                return []
            index = None
        groups: dict[int, list[Row]] = {}  # the batch's rows by device
        for row in rows:
            group = groups.get(row[0].int)
            if group is None:
                groups[row[0].int] = group = []
            group.append(row)
        devices = [group[0][0] for group in groups.values()]
        info = await self._device_info(conn, devices)
        # The state of the devices the cached index gives rules (all devices without one).
        asked = (
            devices
            if index is None
            else [d for d in devices if index.for_device(d, info.get(d)).checks]
        )
        if asked:
            version, states = _states(await conn.fetch(_VERSION_AND_STATE, tenant_id, asked))
        else:
            version, states = (await conn.fetchval(_VERSION, tenant_id)) or 0, {}
        if index is None or index.version != version:  # rules changed: reload them
            index = self._indexes[tenant_id] = await _load_index(conn, version)
            known = {d.int for d in asked}
            more = [
                d for d in devices if d.int not in known and index.for_device(d, info.get(d)).checks
            ]
            if more:
                states.update(_states(await conn.fetch(_VERSION_AND_STATE, tenant_id, more))[1])
        if not index.count:
            return []

        breached = _scan(index, groups, info)
        # Pass 2: the full reading sequence of each pair that breached or has state.
        work: dict[Pair, CompiledRule] = dict(breached)
        for pair in states:
            if pair in work:
                continue
            known_rule = index.rules.get(pair[0])
            if known_rule is None:
                continue  # no-data rules, disabled or deleted rules: not evaluated here
            plan = index.for_device(pair[1], info.get(pair[1])).plans.get(known_rule.field)
            if plan is not None and known_rule.id in plan.ids:
                work[pair] = known_rule
        if not work:
            return []
        changes = _Changes()
        for pair in sorted(work):  # one lock order for every processor: no deadlocks
            rule = work[pair]
            readings = []
            for _, ts, values in groups[pair[1].int]:
                if rule.field in values:
                    value = values[rule.field]
                    level = rule.level(value)
                    if level is not None:
                        readings.append((ts, value, level))
            if readings:
                _run_pair(rule, pair[1], readings, states.get(pair), changes)
        return await self._write(conn, tenant_id, changes, info)

    async def _write(
        self,
        conn: asyncpg.Connection,
        tenant_id: uuid.UUID,
        changes: _Changes,
        info: dict[uuid.UUID, DeviceInfo],
    ) -> list[Event]:
        """Write the batch's alarm changes, in one statement when there is history (anything
        but repeats and duration timers); returns the live events."""
        u, c, s, h = changes.updated, changes.created, changes.state, changes.history
        updates = (
            [a.id for a in u],
            [a.delta for a in u],
            [_json(a.last_value) if a.delta else None for a in u],
            [a.last_ts for a in u],
            [a.severity for a in u],
            [a.cleared_at for a in u],
        )
        states = ([x[0] for x in s], [x[1] for x in s], [x[2] for x in s], [x[3] for x in s])
        if not h:  # then nothing was created either: every new alarm has a `raised` row
            if u:
                await conn.execute(_UPDATE_ALARMS, *updates)
            if s:  # a duration rule's timer started or stopped
                await conn.execute(_UPSERT_STATE, tenant_id, *states)
            return changes.events
        created = {a.id for _, _, a in c}
        returned = await conn.fetch(
            _CHANGES,
            tenant_id,
            *updates,
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
            *states,
            [x[0] for x in h],
            [x[1] for x in h],
            [x[2] for x in h],
            [_json(x[3]) for x in h],
            [x[5] for x in h],
            [x[4] for x in h],
            [x[0] in created for x in h],
        )
        # Every new alarm has a `raised` row: one without merged into another's alarm.
        merged = created - {r["alarm_id"] for r in returned}
        if not merged:
            return changes.events
        return [e for e in changes.events if uuid.UUID(e["alarm_id"]) not in merged]


ENGINE = AlarmEngine()


# --- no-data rules (run by the scheduler) -------------------------------------------------

_NO_DATA_RULES = """
SELECT id, name, severity, device_id, device_type, site_id, no_data_s, no_data_factor,
       cooldown_s
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
# Cooldown ($10 seconds): no new alarm while the (rule, device)'s last clear, automatic or
# manual, is more recent than that.
_RAISE_NO_DATA = f"""
INSERT INTO alarms (id, tenant_id, rule_id, device_id, site_id, rule_name, field, severity,
  status, count, first_occurrence, last_occurrence)
SELECT gen_random_uuid(), d.tenant_id, $1, d.id, d.site_id, $8, NULL, $9, 'ACTIVE', 1, $2, $2
FROM devices d
WHERE COALESCE(d.last_seen, d.created_at) < $2::timestamptz - {_WINDOW} AND {_SCOPE}
  AND NOT ($10::int > 0 AND EXISTS (
    SELECT 1 FROM alert_rule_state s
    WHERE s.rule_id = $1 AND s.device_id = d.id
      AND s.last_cleared_at > $2::timestamptz - make_interval(secs => $10::int)))
ON CONFLICT (rule_id, device_id) WHERE status <> 'CLEARED' DO NOTHING
RETURNING id, device_id, severity
"""  # noqa: S608 (constant SQL fragments, no input)
# The clear is recorded in alert_rule_state when the rule has a cooldown ($8 seconds), as the
# threshold rules do: the next raise looks there.
_CLEAR_NO_DATA = f"""
WITH cleared AS (
  UPDATE alarms a SET status = 'CLEARED', cleared_at = $2, updated_at = now()
  FROM devices d
  WHERE a.rule_id = $1 AND a.device_id = d.id AND a.status <> 'CLEARED'
    AND NOT (COALESCE(d.last_seen, d.created_at) < $2::timestamptz - {_WINDOW}
             AND {_SCOPE})
  RETURNING a.id, a.tenant_id, a.device_id, a.severity, a.count
), recorded AS (
  INSERT INTO alert_rule_state (rule_id, device_id, tenant_id, breaching_since,
                                last_cleared_at)
  SELECT $1, c.device_id, c.tenant_id, NULL, $2 FROM cleared c WHERE $8::int > 0
  ON CONFLICT (rule_id, device_id) DO UPDATE SET last_cleared_at = EXCLUDED.last_cleared_at
)
SELECT id, device_id, severity, count FROM cleared
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
                raise_args = (rule["name"], rule["severity"], rule["cooldown_s"])
                for r in await conn.fetch(_RAISE_NO_DATA, *args, *raise_args):
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
                for r in await conn.fetch(_CLEAR_NO_DATA, *args, rule["cooldown_s"]):
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
                    [None] * len(history),
                    [now] * len(history),
                )
                await notify_in_transaction(conn, events)
            changed += len(history)
    return changed
