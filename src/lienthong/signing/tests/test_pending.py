"""The two halves of a remote signature in two requests: the pending signature.

Mai's declaration is prepared in one request and finished in another, from
the database row alone (nothing kept in memory), after she approved its
hash on her phone. A pending signature is finished once, by its holder,
before it expires.
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from pyhanko.pdf_utils.reader import PdfFileReader

from lienthong.audit.models import AuditRecord
from lienthong.signing import pdf as remote_pdf
from lienthong.signing.errors import SigningRefused
from lienthong.signing.models import PendingSignature
from lienthong.signing.tests.conftest import next_code
from lienthong.signing.tests.test_pdf import approved, indication
from lienthong.trust.tests import documents
from lienthong.trust.validation.report import Indication


def begin(user, credential, **kwargs) -> str:
    """Prepare in one "request"; only the reference travels to the next."""
    pending = remote_pdf.begin_pdf_signature(
        user=user,
        credential=credential,
        pdf=documents.plain_pdf("To khai"),
        document_name="to-khai.pdf",
        purpose="test:1",
        **kwargs,
    )
    return pending.reference


def test_finished_from_the_row_alone_after_a_phone_approval(mai, mai_key, clock, trusted_test_pki):
    reference = begin(mai, mai_key, timestamp_url=trusted_test_pki.tsa_url)
    row = PendingSignature.objects.get(reference=reference)
    assert row.level == "B-T" and len(row.hashes) == 1
    # The state is sealed: the document is not readable in the row.
    assert b"%PDF" not in bytes(row.sealed_state)
    approval = approved(mai, row.hashes)

    signed = remote_pdf.finish_pending_signature(
        user=mai, reference=reference, purpose="test:1", approval_id=str(approval.pk)
    )

    real_now = dt.datetime.fromtimestamp(time_machine.escape_hatch.time.time(), dt.UTC)
    clock.move_to(real_now + dt.timedelta(seconds=2), tick=False)
    (embedded,) = PdfFileReader(io.BytesIO(signed)).embedded_signatures
    assert embedded.signer_cert.subject.native["common_name"] == "Nguyễn Thị Mai"
    assert indication(signed) == Indication.TOTAL_PASSED
    row.refresh_from_db()
    assert row.consumed_at is not None and bytes(row.sealed_state) == b""

    # Spent: neither a second finish nor a replay of the approval signs again.
    with pytest.raises(SigningRefused) as refused:
        remote_pdf.finish_pending_signature(
            user=mai, reference=reference, approval_id=str(approval.pk)
        )
    assert refused.value.code == "pending_used"


def test_finished_with_a_one_time_code(mai, mai_key, mai_totp, clock, trusted_test_pki):
    reference = begin(mai, mai_key, visible_stamp={"page": 1, "text": "Nguyễn Thị Mai"})
    signed = remote_pdf.finish_pending_signature(
        user=mai, reference=reference, otp=next_code(mai_totp, clock)
    )
    assert indication(signed) == Indication.TOTAL_PASSED


def test_an_expired_pending_signature_is_refused_and_deleted(mai, mai_key, clock, trusted_test_pki):
    reference = begin(mai, mai_key)
    approval = approved(mai, PendingSignature.objects.get(reference=reference).hashes)
    clock.shift(remote_pdf.PENDING_SECONDS + 1)
    with pytest.raises(SigningRefused) as refused:
        remote_pdf.finish_pending_signature(
            user=mai, reference=reference, approval_id=str(approval.pk)
        )
    assert refused.value.code == "pending_expired"
    assert not PendingSignature.objects.filter(reference=reference).exists()
    assert AuditRecord.objects.filter(action="pending_refused").exists()


def test_someone_elses_or_another_purpose_is_refused(mai, binh, mai_key, clock, trusted_test_pki):
    reference = begin(mai, mai_key)
    for user, purpose, code in (
        (binh, None, "pending_not_found"),
        (mai, "test:2", "pending_other_purpose"),
    ):
        with pytest.raises(SigningRefused) as refused:
            remote_pdf.finish_pending_signature(
                user=user, reference=reference, purpose=purpose, otp="000000"
            )
        assert refused.value.code == code
    assert PendingSignature.objects.get(reference=reference).consumed_at is None


def test_an_approval_still_pending_keeps_the_signature_waiting(
    mai, mai_key, clock, trusted_test_pki
):
    reference = begin(mai, mai_key)
    row = PendingSignature.objects.get(reference=reference)
    approval = approved(mai, row.hashes)
    approval.state = "pending"
    approval.save(update_fields=["state"])
    with pytest.raises(SigningRefused) as refused:
        remote_pdf.finish_pending_signature(
            user=mai, reference=reference, approval_id=str(approval.pk)
        )
    assert refused.value.code == "approval_pending"
    row.refresh_from_db()
    assert row.is_live()


def test_the_sweep_deletes_expired_rows(mai, mai_key, clock, trusted_test_pki):
    begin(mai, mai_key)
    assert remote_pdf.sweep_pending() == 0
    clock.shift(remote_pdf.PENDING_SECONDS)
    assert remote_pdf.sweep_pending() == 1
