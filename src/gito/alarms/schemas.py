"""Alert rules and alarms as the API speaks them (docs/ALARMS.md)."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import BaseModel, Field, model_validator

from gito.api.schemas import ORMModel, StrictModel


class Severity(StrEnum):
    CRITICAL = "CRITICAL"
    MAJOR = "MAJOR"
    MINOR = "MINOR"
    WARNING = "WARNING"


class AlarmStatus(StrEnum):
    ACTIVE = "ACTIVE"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    CLEARED = "CLEARED"


# Higher is worse: escalation only ever moves an open alarm up this scale.
SEVERITY_RANK = {"WARNING": 1, "MINOR": 2, "MAJOR": 3, "CRITICAL": 4}

Operator = Literal[">", ">=", "<", "<=", "==", "!=", "between", "outside"]
ORDERING = frozenset({">", ">=", "<", "<="})
RANGE = frozenset({"between", "outside"})
# jsonb keeps any number, but a JSON client cannot read integers beyond ±2^53 back exactly.
MAX_NUMBER = 1e15
MAX_WINDOW_S = 30 * 86_400


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) <= MAX_NUMBER
    )


def check_operand(operator: str, value: Any) -> None:
    """Raise ValueError with a message a user can act on when `value` cannot go with
    `operator`: ordering needs a number, a range two ascending numbers, equality a number,
    a boolean or a string of at most 200 characters."""
    if operator in RANGE:
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(_is_number(v) for v in value)
            or value[0] > value[1]
        ):
            raise ValueError(f"operator {operator!r} needs value [low, high] with low <= high")
    elif operator in ORDERING:
        if not _is_number(value):
            raise ValueError(f"operator {operator!r} needs a finite number as value")
    elif isinstance(value, str):
        if len(value) > 200:
            raise ValueError("a string value may have at most 200 characters")
    elif not (isinstance(value, bool) or _is_number(value)):
        raise ValueError(f"operator {operator!r} needs a number, a boolean or a string")


class Condition(StrictModel):
    field: str = Field(min_length=1, max_length=200, examples=["temperature"])
    operator: Operator
    value: Any = Field(examples=[30])

    @model_validator(mode="after")
    def _operand(self) -> Self:
        check_operand(self.operator, self.value)
        return self


class Threshold(StrictModel):
    """A further threshold on the rule's field: when it holds, the alarm has this severity."""

    operator: Operator
    value: Any = Field(examples=[40])
    severity: Severity

    @model_validator(mode="after")
    def _operand(self) -> Self:
        check_operand(self.operator, self.value)
        return self


class ClearCondition(StrictModel):
    """When an open alarm clears (hysteresis); `field` defaults to the condition's field."""

    field: str | None = Field(default=None, max_length=200)
    operator: Operator
    value: Any = Field(examples=[28])

    @model_validator(mode="after")
    def _operand(self) -> Self:
        check_operand(self.operator, self.value)
        return self


class RuleFields(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    kind: Literal["threshold", "no_data"] = "threshold"
    device_id: uuid.UUID | None = None
    device_type: str | None = Field(default=None, min_length=1, max_length=100)
    site_id: uuid.UUID | None = None
    condition: Condition | None = None
    severity: Severity
    escalation: list[Threshold] = Field(default_factory=list, max_length=8)
    duration_s: int = Field(default=0, ge=0, le=MAX_WINDOW_S)
    clear_condition: ClearCondition | None = None
    cooldown_s: int = Field(default=0, ge=0, le=MAX_WINDOW_S)
    no_data_s: int | None = Field(default=None, ge=1, le=MAX_WINDOW_S)
    no_data_factor: float | None = Field(default=None, gt=0, le=1000)
    enabled: bool = True


class RuleCreate(RuleFields):
    """An alert rule. `kind: "threshold"` needs `condition`; `kind: "no_data"` needs
    `no_data_s` (silence longer than this) or `no_data_factor` (longer than the device's
    `expected_interval_s` times this)."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if sum(x is not None for x in (self.device_id, self.device_type, self.site_id)) > 1:
            raise ValueError("scope a rule by at most one of device_id, device_type, site_id")
        if self.kind == "threshold":
            if self.condition is None:
                raise ValueError("a threshold rule needs a condition")
            if self.no_data_s is not None or self.no_data_factor is not None:
                raise ValueError("no_data_s and no_data_factor belong to no_data rules")
            severities = [self.severity, *(t.severity for t in self.escalation)]
            if len(set(severities)) != len(severities):
                raise ValueError("each threshold (condition and escalation) needs its own severity")
            if self.clear_condition is not None and self.clear_condition.field not in (
                None,
                self.condition.field,
            ):
                raise ValueError("clear_condition must test the condition's field")
        else:
            if self.condition is not None or self.escalation or self.clear_condition:
                raise ValueError("a no_data rule takes no condition, escalation or clear_condition")
            if (self.no_data_s is None) == (self.no_data_factor is None):
                raise ValueError("a no_data rule needs exactly one of no_data_s, no_data_factor")
            if self.duration_s:
                raise ValueError("duration_s applies to threshold rules")
        return self


class RuleUpdate(StrictModel):
    """Fields to change; the merged rule is validated as a whole (as on create)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    device_id: uuid.UUID | None = None
    device_type: str | None = Field(default=None, min_length=1, max_length=100)
    site_id: uuid.UUID | None = None
    condition: Condition | None = None
    severity: Severity | None = None
    escalation: list[Threshold] | None = Field(default=None, max_length=8)
    duration_s: int | None = Field(default=None, ge=0, le=MAX_WINDOW_S)
    clear_condition: ClearCondition | None = None
    cooldown_s: int | None = Field(default=None, ge=0, le=MAX_WINDOW_S)
    no_data_s: int | None = Field(default=None, ge=1, le=MAX_WINDOW_S)
    no_data_factor: float | None = Field(default=None, gt=0, le=1000)
    enabled: bool | None = None


class RuleOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    kind: str
    device_id: uuid.UUID | None
    device_type: str | None
    site_id: uuid.UUID | None
    condition: dict[str, Any] | None
    severity: Severity
    escalation: list[dict[str, Any]]
    duration_s: int
    clear_condition: dict[str, Any] | None
    cooldown_s: int
    no_data_s: int | None
    no_data_factor: float | None
    enabled: bool
    created_at: datetime
    updated_at: datetime


class AlarmOut(ORMModel):
    id: uuid.UUID
    rule_id: uuid.UUID
    rule_name: str
    device_id: uuid.UUID
    site_id: uuid.UUID | None
    field: str | None
    severity: Severity
    status: AlarmStatus
    count: int
    first_value: Any
    last_value: Any
    first_occurrence: datetime
    last_occurrence: datetime
    acknowledged_at: datetime | None
    acknowledged_by: uuid.UUID | None
    ack_comment: str | None
    cleared_at: datetime | None
    cleared_by: uuid.UUID | None
    clear_comment: str | None
    created_at: datetime
    updated_at: datetime


class AlarmEventOut(ORMModel):
    id: int
    action: str
    severity: Severity | None
    value: Any
    user_id: uuid.UUID | None
    comment: str | None
    created_at: datetime


class AlarmAction(StrictModel):
    comment: str | None = Field(default=None, max_length=2000)
    severity: Severity | None = Field(
        default=None,
        description="The severity the operator saw; 409 ALARM_CHANGED when the alarm has "
        "escalated since (so nobody acknowledges a CRITICAL they were shown as MAJOR).",
    )


class AlarmCounts(BaseModel):
    """Open alarms (ACTIVE or ACKNOWLEDGED) per severity, and their total."""

    CRITICAL: int = 0
    MAJOR: int = 0
    MINOR: int = 0
    WARNING: int = 0
    total: int = 0
