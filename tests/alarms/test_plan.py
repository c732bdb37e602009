"""The binary-search plan finds exactly the rules whose thresholds a value meets."""

from __future__ import annotations

import random
import uuid

from gito.alarms.engine import FieldPlan, compile_rule

OPERATORS = (">", ">=", "<", "<=", "==")


def _rule(thresholds: list[dict[str, object]]) -> object:
    return compile_rule(
        {
            "id": uuid.uuid4(),
            "name": "r",
            "field": "x",
            "thresholds": thresholds,
            "clear_condition": None,
            "duration_s": 0,
            "cooldown_s": 0,
        }
    )


def test_plan_agrees_with_testing_every_rule() -> None:
    rng = random.Random(7)
    severities = ["WARNING", "MINOR", "MAJOR", "CRITICAL"]
    rules = []
    for _ in range(300):
        count = rng.randint(1, 3)
        thresholds = [
            {
                "operator": rng.choice(OPERATORS),
                "value": rng.choice([rng.randint(-5, 5), rng.uniform(-5, 5)]),
                "severity": severities[i],
            }
            for i in range(count)
        ]
        rules.append(_rule(thresholds))
    rules.append(_rule([{"operator": "outside", "value": [-1, 2.5], "severity": "MAJOR"}]))
    rules.append(
        _rule(
            [
                {"operator": "outside", "value": [-3, 3], "severity": "MINOR"},
                {"operator": ">", "value": 4, "severity": "CRITICAL"},
            ]
        )
    )
    rules.append(_rule([{"operator": "!=", "value": 1, "severity": "MAJOR"}]))
    rules.append(_rule([{"operator": "between", "value": [0, 1], "severity": "MAJOR"}]))
    plan = FieldPlan(rules)  # type: ignore[arg-type]
    assert len(plan.slow) == 2
    for value in [rng.uniform(-6, 6) for _ in range(500)] + list(range(-6, 7)):
        expected = {r.id for r in rules if r.level(value)}  # type: ignore[attr-defined]
        found = {r.id for r in plan.breached(value)} | {r.id for r in plan.slow if r.level(value)}
        assert found == expected, value
