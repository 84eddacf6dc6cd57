"""The applicant signs the declaration with a key at an external CSC service
(``LIENTHONG_SIGNING_PROVIDER=csc``): approved at the service by OAuth (CSC
``oauth2code``), or — account not linked — told to link it. The service is
the stand-in of signing's ``oauth_service``."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from lienthong.audit.models import AuditRecord
from lienthong.dossiers import attachments
from lienthong.portal.models import DeclarationSignature
from lienthong.portal.tests.conftest import submitted
from lienthong.signing.models import PendingSignature
from lienthong.signing.tests.conftest import certified
from lienthong.signing.tests.oauth_service import CREDENTIAL_ID, SERVICE, link, use_service
from lienthong.trust.validation.report import Indication
from lienthong.trust.validation.service import validate_document

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen(time_machine, settings):
    time_machine.move_to(timezone.now(), tick=False)
    settings.TSA_URL = ""
    settings.DOSSIERS_MAX_ATTACHMENT_BYTES = 1024 * 1024


@pytest.fixture
def dossier(mai, procedure, xanh):
    return submitted(mai, procedure, xanh)


@pytest.fixture
def computer(english, mai):
    english.force_login(mai)
    return english


@pytest.fixture
def mai_key(mai, trusted_test_pki):
    return certified(mai, trusted_test_pki)


def test_the_declaration_is_approved_at_the_service(
    computer, mai, dossier, mai_key, settings, monkeypatch
):
    service = use_service(settings, monkeypatch, mai_key)
    link(mai)
    page = computer.get(f"/dossiers/{dossier.code}/").content.decode()
    assert 'name="service"' in page and "Approve at the signing service" in page
    assert 'name="phone"' not in page and 'name="otp"' not in page

    asked = computer.post(
        f"/dossiers/{dossier.code}/declaration/sign/", {"credential": CREDENTIAL_ID, "service": "1"}
    )
    assert asked.status_code == 302 and asked["Location"].startswith(f"{SERVICE}/oauth2/authorize?")
    pending = PendingSignature.objects.get(user=mai)
    back = urlsplit(service.authorize(asked["Location"]))
    wait = computer.get(f"{back.path}?{back.query}")["Location"]
    assert wait == f"/dossiers/{dossier.code}/declaration/sign/{pending.reference}/"
    waiting = computer.get(wait).content.decode()
    assert "Approved at the signing service" in waiting and f'hx-post="{wait}finish/"' in waiting

    done = computer.post(f"{wait}finish/")
    assert done["Location"] == f"/dossiers/{dossier.code}/"
    signature = DeclarationSignature.objects.get(dossier=dossier)
    with attachments.open_blob(signature.attachment.path) as handle:
        signed = handle.read()
    assert validate_document(data=signed, filename="to-khai.pdf").indication == (
        Indication.TOTAL_PASSED
    )
    record = AuditRecord.objects.get(action="sign_declaration", object_id=str(dossier.pk))
    assert record.changes["method"] == "service"


def test_a_replayed_return_from_the_service_signs_nothing_more(
    computer, mai, dossier, mai_key, settings, monkeypatch
):
    service = use_service(settings, monkeypatch, mai_key)
    link(mai)
    asked = computer.post(
        f"/dossiers/{dossier.code}/declaration/sign/", {"credential": CREDENTIAL_ID, "service": "1"}
    )
    back = urlsplit(service.authorize(asked["Location"]))
    wait = computer.get(f"{back.path}?{back.query}")["Location"]
    computer.post(f"{wait}finish/")
    replayed = computer.get(f"{back.path}?{back.query}", follow=True)
    assert replayed.redirect_chain[-1][0] == "/account/signing/"
    assert DeclarationSignature.objects.count() == 1
    assert AuditRecord.objects.filter(
        action="pending_refused", changes__refused="provider_authorize_state"
    ).exists()


def test_an_unlinked_applicant_is_told_to_link_the_account(
    computer, mai, dossier, mai_key, settings, monkeypatch
):
    use_service(settings, monkeypatch, mai_key)
    page = computer.get(f"/dossiers/{dossier.code}/").content.decode()
    assert f"link your account at the signing service {SERVICE}" in page
    assert 'href="/account/signing/"' in page
    assert "first get a signing key" not in page
