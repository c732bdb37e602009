"""Topic rules shared by the embedded broker, dynsec roles and deploy/mosquitto."""

from __future__ import annotations

import re
import uuid

import pytest

from gito.broker import acl
from gito.broker.auth import Identity
from gito.broker.dynsec import device_role_acls
from tests.broker.conftest import DEPLOY

T, D = uuid.uuid4(), uuid.uuid4()


@pytest.mark.parametrize(
    ("topic", "topic_filter", "matches"),
    [
        ("t/devices/d/telemetry", "+/devices/+/telemetry", True),
        ("t/devices/d/telemetry/x", "+/devices/+/telemetry", False),
        ("t/devices/d", "+/devices/+/telemetry", False),
        ("a/b", "a/#", True),
        ("a", "a/#", True),
        ("$SYS/x", "#", False),
        ("$SYS/x", "+/x", False),
        ("$SYS/x", "$SYS/#", True),
    ],
)
def test_topic_matches(topic: str, topic_filter: str, matches: bool) -> None:
    assert acl.topic_matches(topic, topic_filter) is matches


@pytest.mark.parametrize(
    ("requested", "allowed", "within"),
    [
        ("+/devices/+/telemetry", "+/devices/+/telemetry", True),
        ("t/devices/+/telemetry", "+/devices/+/telemetry", True),
        ("#", "+/devices/+/telemetry", False),
        ("+/devices/#", "+/devices/+/telemetry", False),
        ("+/+/+/telemetry", "+/devices/+/telemetry", False),
        ("t/devices/d/commands", "t/devices/d/commands", True),
        ("t/devices/+/commands", "t/devices/d/commands", False),
        ("a/b/c", "a/#", True),
        ("a/#", "a/#", True),
        ("a", "a/b", False),
    ],
)
def test_filter_within(requested: str, allowed: str, within: bool) -> None:
    assert acl.filter_within(requested, allowed) is within


def test_device_identity_is_confined_to_its_prefix() -> None:
    device = Identity(str(D), T, D, "hash")
    assert device.may_publish(f"{T}/devices/{D}/telemetry")
    assert device.may_publish(f"{T}/devices/{D}/commands/response")
    assert not device.may_publish(f"{T}/devices/{D}/commands")
    assert not device.may_publish(f"{uuid.uuid4()}/devices/{D}/telemetry")
    assert device.may_subscribe(f"{T}/devices/{D}/commands")
    assert not device.may_subscribe(f"{T}/devices/{D}/#")
    assert device.may_receive(f"{T}/devices/{D}/commands")
    assert not device.may_receive(f"{T}/devices/{uuid.uuid4()}/commands")


def test_service_identity() -> None:
    service = Identity("gito-service")
    assert service.may_subscribe("+/devices/+/telemetry")
    assert service.may_subscribe("application/+/device/+/event/+")
    assert service.may_publish(f"{T}/devices/{D}/commands")
    assert not service.may_publish(f"{T}/devices/{D}/telemetry")
    assert not service.may_subscribe("#")


def test_dynsec_role_allows_exactly_the_device_topics() -> None:
    rules = {(a["acltype"], a["topic"]) for a in device_role_acls(T, D) if a["allow"]}
    base = f"{T}/devices/{D}"
    assert rules == {
        ("publishClientSend", f"{base}/telemetry"),
        ("publishClientSend", f"{base}/commands/response"),
        ("subscribePattern", f"{base}/commands"),
        ("publishClientReceive", f"{base}/commands"),
    }


def test_setup_script_grants_the_service_acl_of_the_code() -> None:
    script = (DEPLOY / "dynsec-setup.sh").read_text()

    def listed(name: str) -> tuple[str, ...]:
        match = re.search(rf'^{name}="([^"]*)"$', script, flags=re.MULTILINE)
        assert match, f"{name}= not found in dynsec-setup.sh"
        return tuple(match.group(1).split())

    assert listed("SERVICE_SUBSCRIBE") == acl.SERVICE_SUBSCRIBE
    assert listed("SERVICE_PUBLISH") == acl.SERVICE_PUBLISH
    assert re.search(rf"^SHARED_GROUP={acl.SHARED_GROUP}$", script, flags=re.MULTILINE)
