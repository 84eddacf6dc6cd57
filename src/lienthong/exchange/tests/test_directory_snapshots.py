"""Signed directory snapshots: published by the authority, applied by followers, expiry enforced."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from lienthong.directory import snapshots
from lienthong.directory.models import Agency, Snapshot
from lienthong.exchange import delivery, services
from lienthong.exchange.models import AccessRight, InboundMessage
from lienthong.exchange.tests.conftest import MINISTRY, NODE_URL, OFFICE
from lienthong.exchange.tests.test_exchange import body, send, signed_envelope
from lienthong.trust import signing

URL = f"{NODE_URL}/api/v1/directory/snapshot"


@pytest.fixture
def follower(node):
    """This node publishes (as the authority) and follows itself through the HTTP API."""
    root = node.pki.certificate("government-root").sha256.hex()
    snapshots.join(actor="test", anchor={"url": URL, "authority": OFFICE, "roots": [root]})
    return node


def test_the_authority_publishes_a_signed_snapshot(node):
    published = snapshots.publish(actor="test")
    answer = node.http.get("/api/v1/directory/snapshot")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/jose"
    content = body(answer.text)
    assert (content["type"], content["serial"], content["authority"]) == (
        "directory.snapshot",
        1,
        OFFICE,
    )
    assert len(content["agencies"]) == Agency.objects.count() > 3000
    assert {"provider": OFFICE, "message_type": "dossier.*", "consumer": MINISTRY,
            "is_enabled": True} in content["access_rights"]  # fmt: skip
    assert snapshots.publish(actor="test").serial == published.serial + 1


def test_no_snapshot_published_yet_is_a_404(node):
    assert node.http.get("/api/v1/directory/snapshot").status_code == 404


def test_a_follower_applies_the_snapshot_and_the_next_pull_is_a_no_op(follower):
    token = snapshots.publish(actor="test").token
    # Meanwhile the follower's copy drifted: a renamed agency, a local right, a stale one.
    Agency.objects.filter(identifier=MINISTRY).update(name="Renamed locally")
    local = AccessRight.objects.create(
        provider=follower.ministry, message_type="notice.*", consumer=None
    )
    AccessRight.objects.create(
        provider=follower.ministry, message_type="old.*", consumer=None, from_snapshot=True
    )

    applied = snapshots.pull(actor="test", http=follower.http)

    assert applied.serial == 1 and applied.agencies_updated == 1
    assert Agency.objects.get(identifier=MINISTRY).name != "Renamed locally"
    assert AccessRight.objects.filter(pk=local.pk).exists()  # local rights stay
    assert not AccessRight.objects.filter(message_type="old.*").exists()  # replaced
    # The snapshot's rights are there (these two were already, identical, locally).
    assert AccessRight.objects.filter(message_type="dossier.*").count() == 2
    assert Snapshot.objects.filter(published=False).get().token == token
    assert snapshots.pull(actor="test", http=follower.http) is None  # not newer
    call_command("directory", "status")


def forged(follower, *, key=None, **changes) -> str:
    content = snapshots.content(serial=5, now=dt.datetime.now(dt.UTC))
    content.update(changes)
    return signing.sign_jws(
        actor="test", key=key or follower.keys[OFFICE], payload=content, audit=False
    )


def test_snapshots_that_cannot_be_trusted_are_refused(follower):
    cases = [
        (forged(follower, key=follower.keys[MINISTRY]), "not_the_authority"),
        (forged(follower, authority=MINISTRY), "not_the_authority"),
        (forged(follower, valid_until="2020-01-01T00:00:00.000Z"), "expired"),
        (forged(follower, serial=0), "malformed"),
        (forged(follower, agencies="all"), "malformed"),
        ("not.a.snapshot", "malformed"),
    ]
    good = forged(follower)
    header, payload, signature = good.split(".")
    cases.append((f"{header}.{payload}.{signature[:-4]}AAAA", "signature"))
    for token, code in cases:
        with pytest.raises(snapshots.SnapshotRefused) as refused:
            snapshots.apply(actor="test", token=token)
        assert refused.value.code == code, token[:40]
    assert not Snapshot.objects.exists()
    snapshots.apply(actor="test", token=good)
    with pytest.raises(snapshots.SnapshotRefused, match="not_newer"):
        snapshots.apply(actor="test", token=forged(follower, serial=4))


def test_a_snapshot_under_a_root_the_anchor_does_not_name_is_refused(node):
    public_root = node.pki.certificate("public-root").sha256.hex()
    snapshots.join(actor="test", anchor={"url": URL, "authority": OFFICE, "roots": [public_root]})
    snapshots.publish(actor="test")
    with pytest.raises(snapshots.SnapshotRefused, match="other_root"):
        snapshots.pull(actor="test", http=node.http)


def test_an_expired_copy_stops_the_exchange_until_renewed(follower):
    # Joined, nothing applied yet: no traffic.
    with pytest.raises(services.ExchangeRefused, match="expired"):
        send()
    outcome = services.receive(signed_envelope(follower))
    assert (outcome.accepted, outcome.code) == (False, "directory_expired")

    snapshots.publish(actor="test")
    snapshots.pull(actor="test", http=follower.http)
    message = send()
    assert delivery.deliver_due(follower.http).delivered == 1

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=8)
    with time_machine.travel(later):
        assert snapshots.expired_copy()
        assert delivery.deliver_due(follower.http).claimed == 0
        with pytest.raises(CommandError, match="EXPIRED"):
            call_command("directory", "status")
    assert InboundMessage.objects.filter(envelope_id=message.envelope_id).count() == 1


def test_anchors_are_checked(node, tmp_path):
    bad = [
        {"url": "ftp://x", "authority": OFFICE},
        {"url": URL, "authority": "not an identifier"},
        {"url": URL, "authority": OFFICE, "roots": ["XYZ"]},
    ]
    for anchor in bad:
        path = tmp_path / "anchor.json"
        path.write_text(json.dumps(anchor))
        with pytest.raises(CommandError, match="invalid_anchor"):
            call_command("directory", "join", str(path))
    with pytest.raises(CommandError, match="not_joined"):
        call_command("directory", "pull")
