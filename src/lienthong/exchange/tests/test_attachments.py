"""Attachment files: the content-addressed store, their transfer, who may fetch them."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from lienthong.exchange import adapter, attachments, delivery, services
from lienthong.exchange import envelope as envelopes
from lienthong.exchange.models import InboundMessage
from lienthong.exchange.tests.conftest import MINISTRY, OFFICE
from lienthong.trust import signing

PDF = b"%PDF-1.7\n" + b"giay khai sinh " * 2000
DIGEST = hashlib.sha256(PDF).hexdigest()
ATTACHMENT = {"sha256": DIGEST, "size": len(PDF), "media_type": "application/pdf",
              "name": "giay-khai-sinh.pdf"}  # fmt: skip
LINE = {"sender": f"VN:GOV:{MINISTRY}:dossiers", "recipient": f"VN:GOV:{OFFICE}:dossiers"}


def test_a_file_is_kept_under_its_digest_once(settings, tmp_path):
    settings.DATA_DIR = tmp_path

    first = attachments.store_bytes(PDF)
    second = attachments.store([PDF[:100], PDF[100:]])

    assert first == second == DIGEST
    assert attachments.size_of(DIGEST) == len(PDF)
    assert b"".join(attachments.read(DIGEST)) == PDF


@pytest.mark.parametrize(
    ("expected", "size", "code"),
    [
        ("0" * 64, None, "digest_mismatch"),
        (DIGEST, len(PDF) + 1, "size_mismatch"),
        ("not-a-digest", None, "invalid_digest"),
    ],
)
def test_bytes_that_do_not_match_leave_nothing_behind(settings, tmp_path, expected, size, code):
    settings.DATA_DIR = tmp_path

    with pytest.raises(attachments.AttachmentRefused) as refused:
        attachments.store([PDF], sha256=expected, size=size)

    assert refused.value.code == code
    assert attachments.size_of(DIGEST) is None
    incoming = tmp_path / "exchange-files" / "incoming"
    assert not incoming.exists() or not any(incoming.iterdir())


def test_a_file_over_the_limit_is_refused_while_streaming(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.EXCHANGE_MAX_ATTACHMENT_BYTES = 1000

    def endless():
        while True:
            yield b"x" * 400

    with pytest.raises(attachments.AttachmentRefused) as refused:
        attachments.store(endless())

    assert refused.value.code == "attachment_too_large"


def test_the_sweep_removes_only_old_leftovers_and_only_when_asked(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    incoming = tmp_path / "exchange-files" / "incoming"
    incoming.mkdir(parents=True)
    old, fresh = incoming / "part-old", incoming / "part-new"
    old.write_bytes(b"half a file")
    fresh.write_bytes(b"in progress")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))

    assert attachments.sweep() == [old]
    assert old.exists()
    attachments.sweep(delete=True)
    assert not old.exists() and fresh.exists()


def test_the_node_file_api_takes_a_matching_file_and_refuses_others(node, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    url = f"/api/v1/exchange/files/{DIGEST}"

    assert node.http.get(url).status_code == 404
    wrong = node.http.put(url, content=PDF + b"!")
    assert wrong.status_code == 422
    assert wrong.json()["code"] == "digest_mismatch"
    stored = node.http.put(url, content=PDF)
    assert stored.status_code == 201
    assert node.http.get(url).json() == {"sha256": DIGEST, "size": len(PDF)}

    settings.EXCHANGE_MAX_ATTACHMENT_BYTES = 10
    too_big = node.http.put(f"/api/v1/exchange/files/{'1' * 64}", content=PDF)
    assert too_big.status_code == 413
    assert node.http.get("/api/v1/exchange/files/xyz").status_code == 422


def test_an_envelope_naming_a_file_the_node_does_not_hold_is_not_sent(node, settings, tmp_path):
    settings.DATA_DIR = tmp_path

    with pytest.raises(services.ExchangeRefused) as refused:
        services.send(actor="test", type="dossier.handoff", correlation_id="D-1",
                      payload={}, attachments=[ATTACHMENT], **LINE)  # fmt: skip

    assert refused.value.code == "attachment_missing"


def test_the_receiver_refuses_an_envelope_whose_file_has_not_arrived(node, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    built = envelopes.new(type="dossier.handoff", correlation_id="D-2", payload={},
                          attachments=[ATTACHMENT], **LINE)  # fmt: skip
    token = signing.sign_jws(actor="test", key=node.keys[MINISTRY], payload=built.as_dict(),
                             source="test", audit=False)  # fmt: skip

    outcome = services.receive(token)

    assert not outcome.accepted and outcome.code == "attachment_missing"
    attachments.store_bytes(PDF)
    assert services.receive(token).accepted


def test_a_system_uploads_sends_and_the_recipient_system_downloads(node, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    _, sender = adapter.add_system(actor="test", agency=node.ministry, subsystem="dossiers",
                                   name="TEST one-stop")  # fmt: skip
    _, receiver = adapter.add_system(actor="test", agency=node.office, subsystem="dossiers",
                                     name="TEST records")  # fmt: skip
    _, stranger = adapter.add_system(actor="test", agency=node.office, subsystem="archive",
                                     name="TEST archive")  # fmt: skip

    def auth(token):
        return {"Authorization": f"Bearer {token}"}

    uploaded = node.http.put(f"/api/v1/exchange/attachments/{DIGEST}", content=PDF,
                             headers=auth(sender))  # fmt: skip
    assert uploaded.status_code == 201, uploaded.text
    sent = node.http.post(
        "/api/v1/exchange/outbox",
        headers=auth(sender),
        json={"type": "dossier.handoff", "recipient": LINE["recipient"],
              "correlation_id": "D-3", "payload": {}, "attachments": [ATTACHMENT]},
    )  # fmt: skip
    assert sent.status_code == 201, sent.text
    delivery.deliver_due(node.http)
    assert InboundMessage.objects.get().attachment_digests == DIGEST

    mine = node.http.get(f"/api/v1/exchange/attachments/{DIGEST}", headers=auth(receiver))
    assert mine.status_code == 200 and mine.content == PDF
    theirs = node.http.get(f"/api/v1/exchange/attachments/{DIGEST}", headers=auth(stranger))
    assert theirs.status_code == 404
