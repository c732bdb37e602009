"""`python -m gito.broker.bench` runs end to end (its figures are for people, not asserted)."""

from __future__ import annotations

from gito.broker.bench import main, measure


async def test_bench_delivers_every_message_through_both_brokers() -> None:
    for plain in (False, True):
        result = await measure(200, plain=plain, timeout_s=30)
        assert result.messages == 200
        assert result.rate > 0


def test_bench_command_prints_figures(capsys: object) -> None:
    main(["50"])
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "Gito embedded broker" in out and "stock amqtt" in out
    assert out.count("msg/s") == 2
