"""The message log's leaf hashes, timestamped heads, evidence archives and log archives."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import rfc8785
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from lienthong.exchange import delivery, evidence, log, log_archive
from lienthong.exchange import verify_evidence as offline
from lienthong.exchange.models import LogHead, LogRecord, LogTimestamp
from lienthong.exchange.tests.test_exchange import send, signed_envelope
from lienthong.testing.pki import ocsp_changed, responder_key

FIELDS = st.fixed_dictionaries(
    {
        "sequence": st.integers(min_value=1, max_value=2**53),
        "kind": st.sampled_from([k.value for k in LogRecord.Kind]),
        "envelope_id": st.text(max_size=36),
        "correlation_id": st.text(max_size=100),
        "recorded_at": st.just("2026-12-04T10:00:00.000Z"),
        "content_sha256": st.text("0123456789abcdef", min_size=64, max_size=64),
    }
)
DIGEST = st.text("0123456789abcdef", min_size=64, max_size=64)


# --- The hash rules ----------------------------------------------------------------------------


@hypothesis_settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(record=FIELDS, name=st.sampled_from(offline.LEAF_FIELDS), other=st.text(max_size=20))
def test_the_leaf_hash_changes_with_every_field(record, name, other):
    changed = {**record, name: other if name != "sequence" else record["sequence"] + 1}
    if str(changed[name]) != str(record[name]):
        assert offline.leaf_hash(changed) != offline.leaf_hash(record)


@hypothesis_settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(record=FIELDS, left=st.text(max_size=10), right=st.text(max_size=10))
def test_the_leaf_encoding_is_unambiguous(record, left, right):
    # Moving characters across a field boundary changes the hash (length prefixes).
    one = {**record, "envelope_id": left + right, "correlation_id": ""}
    two = {**record, "envelope_id": left, "correlation_id": right}
    if right:
        assert offline.leaf_hash(one) != offline.leaf_hash(two)


@hypothesis_settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(previous=DIGEST, leaf=DIGEST, record=FIELDS)
def test_a_link_binds_the_previous_link_and_the_leaf(previous, leaf, record):
    assert offline.link(previous, leaf) != offline.link(leaf, previous) or previous == leaf
    # A leaf never equals the link made of it: the two are hashed under different tags.
    assert offline.link(previous, leaf) != leaf
    assert offline.record_link(previous, {**record, "version": 2}) == offline.link(
        previous, offline.leaf_hash(record)
    )


@hypothesis_settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(previous=DIGEST, record=FIELDS)
def test_version_one_records_keep_their_rfc8785_rule(previous, record):
    fields = [previous, record["sequence"], *(record[n] for n in offline.LEAF_FIELDS[1:])]
    try:
        expected = rfc8785.dumps(fields)
    except rfc8785.CanonicalizationError:  # lone surrogates: never stored
        return
    assert offline.legacy_digest(previous, record) == hashlib.sha256(expected).hexdigest()


def write_version_one_records(contents: list[tuple[str, str]]) -> None:
    """Records ``(correlation id, content)`` as the log wrote them before leaf hashes."""
    head, _ = LogHead.objects.get_or_create(pk=1)
    previous, sequence = head.digest, head.sequence
    for correlation_id, content in contents:
        sequence += 1
        envelope_id = offline.jws_parts(content)[1]["id"] if "." in content else "old"
        fields = {
            "sequence": sequence,
            "kind": "envelope-sent",
            "envelope_id": envelope_id,
            "correlation_id": correlation_id,
            "recorded_at": "2026-11-01T00:00:00.000Z",
            "content_sha256": hashlib.sha256(content.encode()).hexdigest(),
        }
        digest = offline.legacy_digest(previous, fields)
        LogRecord.objects.create(
            **{**fields, "recorded_at": dt.datetime(2026, 11, 1, tzinfo=dt.UTC)},
            version=1,
            content=content,
            previous_digest=previous,
            digest=digest,
        )
        previous = digest
    LogHead.objects.filter(pk=1).update(sequence=sequence, digest=previous)


def test_version_one_records_verify_and_new_records_follow_them(node):
    write_version_one_records([("OLD", "a"), ("OLD", "b"), ("OLD", "c")])
    send()
    delivery.deliver_due(node.http)
    first_new = LogRecord.objects.get(sequence=4)
    assert first_new.version == 2 and first_new.leaf_hash
    assert first_new.previous_digest == LogRecord.objects.get(sequence=3).digest
    assert log.verify().intact
    LogRecord.objects.filter(sequence=2).update(envelope_id="edited")
    outcome = log.verify()
    assert (outcome.broken_at, outcome.problem) == (2, "its digest does not match its fields")


def test_an_edited_leaf_hash_is_found(node):
    send()
    LogRecord.objects.filter(sequence=1).update(leaf_hash="0" * 64)
    outcome = log.verify()
    assert (outcome.broken_at, outcome.problem) == (1, "its leaf hash does not match its fields")


# --- Timestamps of the head --------------------------------------------------------------------


def test_the_stored_token_is_verified_and_keeps_its_authoritys_certificate(node):
    send()
    stamp = log.timestamp_head(node.pki.tsa_url)
    assert stamp.digest == LogHead.objects.get().digest
    assert bytes(stamp.tsa_certificate) == node.pki.certificate("tsa").dump()
    assert offline.timestamp_problem(bytes(stamp.token), stamp.digest, [], []).startswith(
        "time-stamping authority:"  # everything but the roots checked
    )


def test_a_token_over_another_digest_is_refused_and_not_stored(node, monkeypatch):
    from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

    real = RequestsHTTPTimeStamper.async_timestamp

    async def wrong(self, message_digest, md_algorithm):
        return await real(self, b"\x01" * 32, md_algorithm)

    send()
    monkeypatch.setattr(RequestsHTTPTimeStamper, "async_timestamp", wrong)
    with pytest.raises(log.TimestampFailed, match="timestamp of #1 does not match the digest"):
        log.timestamp_head(node.pki.tsa_url)
    assert not LogTimestamp.objects.exists()
    assert LogHead.objects.get().stamp_failures == 1


def test_a_failing_authority_does_not_stop_the_log_and_is_retried(node, settings, client, operator):
    settings.EXCHANGE_LOG_TIMESTAMP_SECONDS = 3600
    send()
    with pytest.raises(log.TimestampFailed):
        log.stamp_if_due("http://127.0.0.1:9/tsa")
    head = LogHead.objects.get()
    assert head.stamp_failures == 1 and "TimestampRequestError" in head.stamp_error
    send(correlation="STILL-LOGGED")  # the log goes on
    assert log.verify().intact

    # Visible to the operator: the admin and /metrics.
    client.force_login(operator)
    page = client.get("/admin/exchange/loghead/")
    assert page.status_code == 200 and "TimestampRequestError" in page.content.decode()
    metrics = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert "lienthong_exchange_log_timestamp_failures 1" in metrics
    assert "lienthong_exchange_log_unstamped_records 2" in metrics

    # Not again at once; after the pause, the retry succeeds and clears the failure.
    assert log.stamp_if_due(node.pki.tsa_url) is None
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=61)):
        stamp = log.stamp_if_due(node.pki.tsa_url)
    assert stamp is not None and stamp.sequence == 2
    assert LogHead.objects.get().stamp_failures == 0
    # Only when the head moved, and not before the interval.
    assert log.stamp_if_due(node.pki.tsa_url) is None
    send(correlation="LATER")
    assert log.stamp_if_due(node.pki.tsa_url) is None
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3700)):
        assert log.stamp_if_due(node.pki.tsa_url).sequence == 3


def test_the_worker_timestamps_the_head(node, settings, monkeypatch):
    settings.TSA_URL = node.pki.tsa_url
    send()
    monkeypatch.setattr(delivery, "client", lambda: node.http)
    delivery.run(once=True)
    assert LogTimestamp.objects.get().sequence == LogHead.objects.get().sequence


# --- Evidence ----------------------------------------------------------------------------------


def exchanged(node, correlation="EV-1", count=2):
    sent = [send(correlation=correlation) for _ in range(count)]
    send(correlation="OTHER")
    delivery.deliver_due(node.http)
    return sent


def rezip(files: dict[str, bytes], *, manifest: bool = True) -> bytes:
    """The archive with changed files, the manifest rewritten to match when asked."""
    if manifest:
        data = json.loads(files["manifest.json"])
        data["files"] = {n: offline._sha256(d) for n, d in files.items() if n != "manifest.json"}
        files = {**files, "manifest.json": json.dumps(data).encode()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name, content in files.items():
            out.writestr(name, content)
    return buffer.getvalue()


def unzip(data: bytes) -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    return {n: archive.read(n) for n in archive.namelist()}


def test_the_evidence_of_a_dossier_verifies_offline_and_hides_other_records(node, tmp_path):
    first, _ = exchanged(node)
    send(correlation="AFTER")  # a record between the dossier's and the timestamped head

    data = evidence.build("EV-1", tsa_url=node.pki.tsa_url)
    report = offline.verify(data)
    assert report.intact, report.problems
    files = unzip(data)
    shown = json.loads(files["log.json"])
    kinds = sorted(r["kind"] for r in shown["records"])
    assert kinds == ["envelope-received"] * 2 + ["envelope-sent"] * 2 + [
        "receipt-received",
        "receipt-sent",
    ]
    assert f"objects/{first.token_sha256}.jws" in files
    # Records of other dossiers appear by their leaf hash only: no id, no correlation id.
    assert shown["chain"] and all(set(e) == {"sequence", "leaf"} for e in shown["chain"])
    assert b"OTHER" not in b"".join(files.values()) and b"AFTER" not in files["log.json"]
    assert len(report.timestamps) == 1 and shown["timestamps"][0]["token"] in files
    assert any(name.startswith("roots/") for name in files)
    # The receiver's OCSP answers about the signers, from the node's revocation cache.
    assert report.revocation >= 1 and any(name.endswith(".ocsp") for name in files)

    call_command("exchange", "evidence", "EV-1", output=tmp_path / "ev.zip")
    call_command("exchange", "verify-evidence", str(tmp_path / "ev.zip"))


def test_the_offline_verifier_runs_without_django(node, tmp_path):
    exchanged(node)
    (tmp_path / "ev.zip").write_bytes(evidence.build("EV-1", tsa_url=node.pki.tsa_url))
    # Copied alone into an empty folder, with Django and Liên Thông made unimportable.
    shutil.copy(Path(offline.__file__), tmp_path / "verify_evidence.py")
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    alone = (
        "import sys; sys.modules['django'] = sys.modules['lienthong'] = None; "
        "sys.argv = ['verify_evidence.py', sys.argv[1]]; "
        "exec(compile(open('verify_evidence.py').read(), 'verify_evidence.py', 'exec'))"
    )

    def run(*arguments):
        return subprocess.run(
            [sys.executable, "-I", *arguments],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )

    checked = run("-c", alone, "ev.zip")
    assert checked.returncode == 0, checked.stderr
    assert "INTACT" in checked.stdout and "6 log record(s) shown in full" in checked.stdout
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    checked = run("-c", alone, "broken.zip")
    assert checked.returncode == 1
    assert checked.stderr.startswith("NOT INTACT: not an evidence archive")
    # The documented module form, from an installed Liên Thông.
    checked = run("-m", "lienthong.exchange.verify_evidence", "ev.zip")
    assert checked.returncode == 0 and checked.stdout.endswith("INTACT\n"), checked.stderr


def test_a_tampered_evidence_archive_fails_with_its_reason(node, tmp_path):
    first, _ = exchanged(node)
    send(correlation="AFTER")
    data = evidence.build("EV-1", tsa_url=node.pki.tsa_url)
    files = unzip(data)
    name = f"objects/{first.token_sha256}.jws"

    def problem(changed: bytes) -> str:
        report = offline.verify(changed)
        assert not report.intact
        return report.problems[0]

    # One byte of an envelope changed: the manifest says otherwise …
    forged = bytearray(files[name])
    forged[40] ^= 1
    assert problem(rezip({**files, name: bytes(forged)}, manifest=False)) == (
        f"{name} does not match the manifest"
    )
    # … and with the manifest rewritten, the log record does.
    assert "signature" in problem(rezip({**files, name: bytes(forged)})) or "unreadable" in (
        problem(rezip({**files, name: bytes(forged)}))
    )

    # A record of the chain removed (manifest rewritten).
    shown = json.loads(files["log.json"])
    gone = shown["chain"][0]["sequence"]
    shown["chain"] = shown["chain"][1:]
    assert problem(rezip({**files, "log.json": json.dumps(shown).encode()})) == (
        f"record #{gone} is missing from the chain"
    )

    # A token of another head swapped in.
    send(correlation="MORE")
    other = log.timestamp_head(node.pki.tsa_url)
    token = json.loads(files["log.json"])["timestamps"][0]["token"]
    reason = problem(rezip({**files, token: bytes(other.token)}))
    assert reason.endswith("the token does not cover the log head it is stored for")

    # The command: exit non-zero with a one-line reason.
    (tmp_path / "forged.zip").write_bytes(rezip({**files, name: bytes(forged)}, manifest=False))
    with pytest.raises(
        CommandError, match=f"^evidence not intact: {re.escape(name)} does not match"
    ):
        call_command("exchange", "verify-evidence", str(tmp_path / "forged.zip"))


def test_evidence_is_not_exported_before_its_records_are_timestamped(node):
    exchanged(node)
    with pytest.raises(CommandError, match="not yet covered by a timestamped log head"):
        call_command("exchange", "evidence", "EV-1")
    call_command("exchange", "timestamp-log", tsa=node.pki.tsa_url)
    assert offline.verify(evidence.build("EV-1")).intact


def test_version_one_neighbours_are_shown_by_their_fields_not_their_content(node):
    old = signed_envelope(node, correlation_id="OLD")
    neighbour = signed_envelope(node, correlation_id="NEIGHBOUR")
    write_version_one_records([("OLD", old), ("NEIGHBOUR", neighbour)])
    send(correlation="NEW")  # a version-2 record after them

    data = evidence.build("OLD", tsa_url=node.pki.tsa_url)
    report = offline.verify(data)
    assert report.intact, report.problems
    chain = json.loads(unzip(data)["log.json"])["chain"]
    assert chain[0]["correlation_id"] == "NEIGHBOUR" and "content" not in chain[0]
    assert set(chain[1]) == {"sequence", "leaf"}
    assert neighbour.encode() not in b"".join(unzip(data).values())


# --- Retention: archive files --------------------------------------------------------------------


def test_archived_records_leave_the_database_and_the_chain_goes_on(node, tmp_path):
    exchanged(node)
    log.timestamp_head(node.pki.tsa_url)
    send(correlation="UNSTAMPED")  # after the last timestamp: stays in the database
    archive = tmp_path / "log-1.zip"
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date().isoformat()

    call_command("exchange", "archive-log", output=archive, before=dt.date.fromisoformat(tomorrow))
    assert list(LogRecord.objects.values_list("correlation_id", flat=True)) == ["UNSTAMPED"]
    head = LogHead.objects.get()
    assert head.archived_sequence == 8 == log_archive.verify_archive(archive).records
    checksum = (tmp_path / "log-1.zip.sha256").read_text().split()
    assert checksum == [offline._sha256(archive.read_bytes()), "log-1.zip"]
    call_command("exchange", "verify-archive", str(archive))
    assert log.verify().intact
    call_command("exchange", "verify-log")

    # New records link to the archived chain.
    send(correlation="AFTER")
    delivery.deliver_due(node.http)
    assert log.verify().intact

    # Evidence from the archive file (the database no longer has those records).
    with pytest.raises(CommandError, match="no message"):
        call_command("exchange", "evidence", "EV-1")
    data = evidence.build("EV-1", archives=[archive])
    report = offline.verify(data)
    assert report.intact, report.problems
    assert report.records == 6
    call_command("exchange", "evidence", "EV-1", archive=[archive], output=tmp_path / "e.zip")
    call_command("exchange", "verify-evidence", str(tmp_path / "e.zip"))

    with pytest.raises(CommandError, match="not a usable log archive"):
        call_command("exchange", "evidence", "EV-1", archive=[tmp_path / "e.zip"])

    # An edited archive is found; an existing file is never overwritten.
    with zipfile.ZipFile(archive) as original:
        files = {n: original.read(n) for n in original.namelist()}
    lines = files["records.jsonl"].decode().splitlines()
    lines[3] = lines[3].replace('"envelope-received"', '"envelope-sent"')
    files["records.jsonl"] = ("\n".join(lines) + "\n").encode()
    (tmp_path / "edited.zip").write_bytes(rezip(files, manifest=False))
    with pytest.raises(CommandError, match=r"records\.jsonl does not match the manifest"):
        call_command("exchange", "verify-archive", str(tmp_path / "edited.zip"))
    manifest = json.loads(files["manifest.json"])
    manifest["files"]["records.jsonl"] = offline._sha256(files["records.jsonl"])
    files["manifest.json"] = json.dumps(manifest).encode()
    (tmp_path / "edited.zip").write_bytes(rezip(files, manifest=False))
    with pytest.raises(CommandError, match="archive broken at record #4"):
        call_command("exchange", "verify-archive", str(tmp_path / "edited.zip"))
    with pytest.raises(CommandError, match="exists"):
        call_command("exchange", "archive-log", output=archive)


def test_the_retention_setting_chooses_what_is_archived(node, settings, tmp_path):
    settings.EXCHANGE_LOG_RETENTION_DAYS = 30
    exchanged(node)
    log.timestamp_head(node.pki.tsa_url)
    call_command("exchange", "archive-log", output=tmp_path / "none.zip")
    assert not (tmp_path / "none.zip").exists() and LogRecord.objects.count() == 8
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=31)):
        call_command("exchange", "archive-log", output=tmp_path / "old.zip")
    assert not LogRecord.objects.exists()
    assert log.timestamp_head(node.pki.tsa_url) is None  # the archive ends at a timestamp
    assert log.verify().intact


def test_a_broken_chain_is_not_archived(node, tmp_path):
    exchanged(node)
    log.timestamp_head(node.pki.tsa_url)
    LogRecord.objects.filter(sequence=2).update(correlation_id="edited")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=400)
    with time_machine.travel(later), pytest.raises(CommandError, match="broken at #2"):
        call_command("exchange", "archive-log", output=tmp_path / "a.zip")
    assert LogRecord.objects.count() == 8 and not (tmp_path / "a.zip").exists()


def test_an_archive_written_before_leaf_hashes_still_verifies(tmp_path):
    previous, lines = offline.GENESIS, []
    for sequence in (1, 2):
        record = {
            "sequence": sequence,
            "kind": "envelope-sent",
            "envelope_id": f"id-{sequence}",
            "correlation_id": "OLD",
            "recorded_at": "2026-11-01T00:00:00.000Z",
            "content": f"token {sequence}",
            "content_sha256": hashlib.sha256(f"token {sequence}".encode()).hexdigest(),
            "previous_digest": previous,
        }
        record["digest"] = previous = offline.legacy_digest(previous, record)
        lines.append(json.dumps(record))
    header = {"format": "lienthong-message-log/1", "first": 1, "last": 2,
              "previous_digest": offline.GENESIS}  # fmt: skip
    old = tmp_path / "old.jsonl"
    old.write_text("\n".join([json.dumps(header), *lines]) + "\n")
    assert log_archive.verify_archive(old).records == 2
    old.write_text(old.read_text().replace('"id-2"', '"id-3"'))
    assert log_archive.verify_archive(old).broken_at == 2


def test_a_revocation_before_signing_in_the_nodes_answers_fails_the_evidence(node):
    from asn1crypto import ocsp

    exchanged(node)
    files = unzip(evidence.build("EV-1", tsa_url=node.pki.tsa_url))
    name = next(n for n in files if n.endswith(".ocsp"))
    revoked = ocsp.CertStatus(
        name="revoked", value={"revocation_time": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}
    )
    # A genuine answer (signed by the CA's responder) saying so fails the evidence.
    genuine = ocsp_changed(files[name], status=revoked, key=responder_key(node.pki, files[name]))
    report = offline.verify(rezip({**files, name: genuine}))
    assert not report.intact
    # Every object signed with that certificate says so, and nothing else is wrong.
    assert report.problems and all("says the certificate was revoked" in p for p in report.problems)
    # The same answer edited in the archive without the responder's key is refused as such.
    report = offline.verify(rezip({**files, name: ocsp_changed(files[name], status=revoked)}))
    assert not report.intact
    assert report.problems[0] == (
        f"{name}: the OCSP response is not signed by the certificate's CA or a responder it "
        "certified"
    )
