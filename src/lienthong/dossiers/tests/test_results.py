"""The leader approves and the result is signed as PAdES with the agency's key held
by the node; the original is kept; the applicant downloads and verifies it; a
refusal leaves nothing written."""

from __future__ import annotations

import hashlib
import io

import pytest

from lienthong.audit.models import AuditRecord
from lienthong.dossiers import attachments, results, services
from lienthong.dossiers.errors import AttachmentRefused, DossierConflict, ResultRefused
from lienthong.dossiers.models import (
    Attachment,
    AttachmentKind,
    Dossier,
    ResultDelivery,
    ResultDocument,
    ResultMethod,
    Status,
)
from lienthong.dossiers.tests.conftest import result_pdf, submit, upload
from lienthong.trust.validation.report import Indication


def processing(people) -> Dossier:
    dossier = submit(people.procedure, people.xanh, people.mai)
    dossier = services.accept(actor=people.lan, dossier=dossier, expected_version=1)
    return services.process(actor=people.minh, dossier=dossier, expected_version=2)


def stored(attachment: Attachment) -> bytes:
    with attachments.open_blob(attachment.path) as handle:
        return handle.read()


def test_the_leader_approves_and_the_result_is_signed_b_t_with_the_agency_key(
    people, xanh_key, trusted_test_pki, settings
):
    settings.TSA_URL = trusted_test_pki.tsa_url
    dossier = processing(people)
    original = result_pdf()

    done = services.approve(
        actor=people.hoa, dossier=dossier, expected_version=3, result=upload(original)
    )

    assert done.status == Status.DONE
    document = ResultDocument.objects.get(dossier=done)
    assert done.result == document.signed
    assert (document.method, document.level) == (ResultMethod.AGENCY_SEAL, "B-T")
    assert document.signing_key == xanh_key
    assert document.approved_by == people.hoa
    assert document.approved_by_label == "Đỗ Thị Hoa"
    # The original is kept unchanged beside the signed copy, both by digest.
    assert stored(document.original) == original
    assert document.original.kind == AttachmentKind.DRAFT
    signed = stored(document.signed)
    assert signed.startswith(original)  # an incremental update: the original bytes first
    assert document.signed.sha256 == hashlib.sha256(signed).hexdigest()
    assert AuditRecord.objects.filter(action="result_signed", object_id=str(done.pk)).exists()

    record = results.verify_result(done)
    assert record.indication == Indication.TOTAL_PASSED
    (signature,) = record.report().signatures
    assert signature.hierarchy == "government"
    assert signature.timestamp["valid"] is True
    assert signature.coverage == "entire_document"


def test_without_a_time_stamping_authority_the_result_is_signed_b_b(people, xanh_key, settings):
    settings.TSA_URL = ""
    dossier = processing(people)
    done = services.approve(
        actor=people.hoa, dossier=dossier, expected_version=3, result=upload(result_pdf())
    )
    document = ResultDocument.objects.get(dossier=done)
    assert document.level == "B-B"
    # The visible stamp: a signature field drawn in its box on the (last) page.
    from pyhanko.pdf_utils.reader import PdfFileReader

    (signature,) = PdfFileReader(io.BytesIO(stored(document.signed))).embedded_signatures
    assert [round(float(v)) for v in signature.sig_field["/Rect"]] == list(results.STAMP_BOX)
    assert "/AP" in signature.sig_field


def test_the_specialists_draft_is_what_the_leader_signs(people, xanh_key, settings):
    settings.TSA_URL = ""
    dossier = submit(people.procedure, people.xanh, people.mai)
    dossier = services.accept(actor=people.lan, dossier=dossier, expected_version=1)
    draft = result_pdf("Ban du thao")
    dossier = services.process(
        actor=people.minh,
        dossier=dossier,
        expected_version=2,
        draft_result=upload(draft, "du-thao.pdf"),
    )
    assert results.draft(dossier).original_name == "du-thao.pdf"

    done = services.approve(actor=people.hoa, dossier=dossier, expected_version=3)

    document = ResultDocument.objects.get(dossier=done)
    assert document.original.original_name == "du-thao.pdf"
    assert stored(document.original) == draft
    assert done.result.original_name == "du-thao-da-ky.pdf"
    assert results.draft(done) is None  # signed: no longer a draft waiting


def test_a_specialist_replaces_the_draft_while_processing(people):
    dossier = processing(people)
    dossier = services.attach_draft_result(
        actor=people.minh,
        dossier=dossier,
        upload=upload(result_pdf("v2"), "ban-2.pdf"),
        expected_version=3,
    )
    assert dossier.version == 4
    assert results.draft(dossier).original_name == "ban-2.pdf"
    assert dossier.events.last().action == "draft_result"
    with pytest.raises(DossierConflict) as refused:
        services.attach_draft_result(
            actor=people.lan, dossier=dossier, upload=upload(result_pdf()), expected_version=4
        )
    assert refused.value.code == "not_allowed"


def nothing_written(dossier: Dossier, *, version: int) -> None:
    dossier.refresh_from_db()
    assert (dossier.status, dossier.version, dossier.result_id) == (
        Status.PROCESSING,
        version,
        None,
    )
    assert not ResultDocument.objects.filter(dossier=dossier).exists()
    assert not dossier.attachments.filter(kind__in=["draft", "result"]).exists()
    assert not dossier.events.filter(action="done").exists()


def test_without_an_agency_key_on_the_node_the_approval_is_refused(people):
    dossier = processing(people)
    with pytest.raises(ResultRefused) as refused:
        services.approve(
            actor=people.hoa, dossier=dossier, expected_version=3, result=upload(result_pdf())
        )
    assert refused.value.code == "no_signing_key"
    assert "signing key" in refused.value.message_en
    nothing_written(dossier, version=3)


def test_a_disabled_agency_key_does_not_sign(people, xanh_key):
    from lienthong.trust import keystore

    keystore.set_enabled(actor="test", key=xanh_key, enabled=False, source="test")
    dossier = processing(people)
    with pytest.raises(ResultRefused) as refused:
        services.approve(
            actor=people.hoa, dossier=dossier, expected_version=3, result=upload(result_pdf())
        )
    assert refused.value.code == "no_signing_key"
    nothing_written(dossier, version=3)


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("ket-qua.docx", b"PK\x03\x04 not a pdf", "not_a_pdf"),
        ("ket-qua.pdf", b"GIF89a pretending", "not_a_pdf"),
        ("ket-qua.pdf", b"%PDF-1.7 but broken inside", "not_a_pdf"),
        ("ket-qua.pdf", b"%PDF-1.7" + b"0" * 70 * 1024, "too_large"),
    ],
)
def test_a_result_that_is_not_a_usable_pdf_is_refused_and_nothing_is_written(
    people, xanh_key, settings, name, content, code
):
    settings.TSA_URL = ""
    dossier = processing(people)
    with pytest.raises(AttachmentRefused) as refused:
        services.approve(
            actor=people.hoa, dossier=dossier, expected_version=3, result=upload(content, name)
        )
    assert refused.value.code == code
    nothing_written(dossier, version=3)


def test_only_the_leader_signs_and_only_while_processing(people, xanh_key):
    dossier = processing(people)
    with pytest.raises(DossierConflict) as refused:
        results.sign_result(actor=people.minh, dossier=dossier, pdf=result_pdf())
    assert refused.value.code == "not_allowed"
    accepted = services.accept(
        actor=people.lan,
        dossier=submit(people.procedure, people.xanh, people.mai),
        expected_version=1,
    )
    with pytest.raises(DossierConflict) as refused:
        results.sign_result(actor=people.hoa, dossier=accepted, pdf=result_pdf())
    assert refused.value.code == "illegal_transition"
    assert not ResultDocument.objects.exists()


def test_sign_result_links_the_result_without_deciding(people, xanh_key, settings):
    settings.TSA_URL = ""
    dossier = processing(people)
    document = results.sign_result(actor=people.hoa, dossier=dossier, pdf=result_pdf())
    dossier.refresh_from_db()
    assert dossier.status == Status.PROCESSING
    assert dossier.result == document.signed
    assert results.current(dossier) == document


class RemoteSignature:
    """A stand-in for the leader's personal remote signature (another ResultSigner)."""

    method = ResultMethod.PERSONAL_REMOTE

    def __init__(self, key):
        self.key = key

    def sign(self, *, actor, dossier, pdf, stamp_text):
        from lienthong.trust import signing

        signed = signing.sign_pdf(actor=actor, key=self.key, pdf=pdf, level="B-B")
        return results.SignedPdf(
            content=signed,
            method=self.method,
            level="B-B",
            signer="TEST leader",
            certificate_sha256=self.key.fingerprint_sha256,
        )


def test_another_signer_plugs_in_for_the_leaders_personal_signature(people, xanh_key):
    dossier = processing(people)
    done = services.approve(
        actor=people.hoa,
        dossier=dossier,
        expected_version=3,
        result=upload(result_pdf()),
        signer=RemoteSignature(xanh_key),
    )
    document = ResultDocument.objects.get(dossier=done)
    assert (document.method, document.signer, document.signing_key) == (
        ResultMethod.PERSONAL_REMOTE,
        "TEST leader",
        None,
    )


def test_of_two_leaders_approving_at_once_one_wins_and_one_result_is_recorded(
    people, xanh_key, settings
):
    from lienthong.dossiers.tests.conftest import grant, officer
    from lienthong.identity.models import Role

    settings.TSA_URL = ""
    dossier = processing(people)
    son = grant(officer("son.lanhdao", "Trịnh Văn Sơn"), people.xanh, Role.LEADER)
    services.approve(
        actor=people.hoa, dossier=dossier, expected_version=3, result=upload(result_pdf("A"))
    )
    with pytest.raises(DossierConflict) as refused:
        services.approve(
            actor=son, dossier=dossier, expected_version=3, result=upload(result_pdf("B"))
        )
    assert refused.value.code == "stale_dossier"
    assert ResultDocument.objects.filter(dossier=dossier).count() == 1
    assert ResultDocument.objects.get(dossier=dossier).approved_by == people.hoa


def test_the_result_is_returned_at_the_counter_or_by_post(people, xanh_key, settings):
    settings.TSA_URL = ""
    dossier = processing(people)
    done = services.approve(
        actor=people.hoa, dossier=dossier, expected_version=3, result=upload(result_pdf())
    )
    with pytest.raises(DossierConflict) as refused:
        services.return_result(
            actor=people.lan,
            dossier=done,
            expected_version=done.version,
            delivery=ResultDelivery.POST,
        )
    assert refused.value.code == "delivery_address_required"
    returned = services.return_result(
        actor=people.lan,
        dossier=done,
        expected_version=done.version,
        delivery=ResultDelivery.POST,
        delivery_address="12 phố Hàng Bạc, Phường Hoàn Kiếm, Thành phố Hà Nội",
    )
    assert returned.status == Status.RESULT_RETURNED
    assert returned.result_delivery == ResultDelivery.POST
    assert returned.delivery_address.startswith("12 phố Hàng Bạc")
    # Returned, the signed result stays available to the applicant.
    assert results.result_bytes(returned).startswith(b"%PDF-")


def test_the_applicant_downloads_the_signed_result_and_others_find_nothing(
    people, xanh_key, settings, client
):
    settings.TSA_URL = ""
    dossier = processing(people)
    done = services.approve(
        actor=people.hoa, dossier=dossier, expected_version=3, result=upload(result_pdf())
    )
    client.force_login(people.mai)
    response = client.get(f"/results/{done.code}/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content if response.streaming else [response.content]) == (
        stored(done.result)
    )
    client.force_login(people.binh)
    assert client.get(f"/results/{done.code}/").status_code == 404
    client.force_login(people.khoa)  # an officer of another agency
    assert client.get(f"/results/{done.code}/").status_code == 404


def test_the_applicant_verifies_the_result_through_the_trust_service(
    people, xanh_key, trusted_test_pki, settings, client
):
    settings.TSA_URL = ""
    dossier = processing(people)
    done = services.approve(
        actor=people.hoa, dossier=dossier, expected_version=3, result=upload(result_pdf())
    )
    client.force_login(people.mai)
    response = client.post(f"/results/{done.code}/verify/")
    assert response.status_code == 302
    assert response["Location"].startswith("/trust/reports/")
    page = client.get(response["Location"]).content.decode()
    assert "TOTAL-PASSED" in page
