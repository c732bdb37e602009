"""What a delivery looks like on the wire: the signed webhook request and the e-mail."""

from __future__ import annotations

import hashlib
import hmac
import html
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import orjson

SIGNATURE_HEADER = "X-Gito-Signature"
USER_AGENT = "Gito-Notifier/1"


def webhook_body(delivery_id: str, payload: dict[str, Any]) -> bytes:
    """The JSON POSTed to a webhook: the delivery id first (receivers deduplicate on it:
    a retry after a lost response repeats the same id and body), then the event."""
    return orjson.dumps({"id": delivery_id, **payload})


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the exact body bytes, keyed with the channel secret>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_headers(delivery_id: str, event: str, secret: str, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Gito-Event": event,
        "X-Gito-Delivery": delivery_id,
        SIGNATURE_HEADER: signature(secret, body),
    }


def _rows(payload: dict[str, Any]) -> list[tuple[str, str]]:
    alarm = payload.get("alarm") or {}
    device = alarm.get("device_name") or alarm.get("device_id") or "-"
    rows = [
        ("Alarm", str(alarm.get("rule_name", "-"))),
        ("Device", str(device)),
        ("Severity", str(alarm.get("severity", "-"))),
        ("Status", str(alarm.get("status", "-"))),
        ("Field", str(alarm.get("field") or "-")),
        ("Value", orjson.dumps(alarm.get("value")).decode()),
        ("Count", str(alarm.get("count", "-"))),
        ("First occurrence", str(alarm.get("first_occurrence", "-"))),
        ("Last occurrence", str(alarm.get("last_occurrence", "-"))),
    ]
    if alarm.get("comment"):
        rows.append(("Comment", str(alarm["comment"])))
    rows.append(("Alarm id", str(alarm.get("id", "-"))))
    return rows


def subject(payload: dict[str, Any]) -> str:
    alarm = payload.get("alarm") or {}
    action = str(payload.get("event")).removeprefix("alarm.")
    device = alarm.get("device_name") or alarm.get("device_id") or "-"
    text = f"[Gito] {alarm.get('severity', '')} alarm {action}: {alarm.get('rule_name', '')}"
    # Header injection: no line breaks from user-controlled names reach the header.
    return " ".join(f"{text} on {device}".split())[:250]


def email_message(
    *, sender: str, recipients: list[str], delivery_id: str, payload: dict[str, Any]
) -> EmailMessage:
    """A multipart/alternative message: plain text first, HTML second."""
    rows = _rows(payload)
    title = subject(payload)
    width = max(len(k) for k, _ in rows)
    text = "\n".join([title, "", *(f"{k.ljust(width)}  {v}" for k, v in rows), ""])
    cells = "".join(
        f'<tr><th align="left" style="padding:2px 12px 2px 0">{html.escape(k)}</th>'
        f"<td>{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    body = (
        '<!doctype html><html><body style="font-family:sans-serif">'
        f'<h2 style="font-size:16px">{html.escape(title)}</h2>'
        f"<table>{cells}</table>"
        f'<p style="color:#666;font-size:12px">Delivery {html.escape(delivery_id)}</p>'
        "</body></html>"
    )
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = title
    message["Message-ID"] = make_msgid(idstring=delivery_id.replace("-", ""), domain="gito")
    message["X-Gito-Delivery"] = delivery_id
    message.set_content(text)
    message.add_alternative(body, subtype="html")
    return message
