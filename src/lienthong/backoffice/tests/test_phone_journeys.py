"""The identity issue's whole journey, over HTTP, for a citizen and for an officer.

Each of them: signs in with a password and a second factor, pairs a phone by its
QR-code link, adds a passkey, signs in again with the passkey alone, then with a
password approved on the phone, and finally signs a document approved on the
phone: chị Mai her declaration, anh Hùng (leader of Phường Xanh) the result of
her dossier. Both signed PDFs validate TOTAL-PASSED with their own certificates.

The phone is a software authenticator giving real WebAuthn answers, reached
through the phone app's own pages (its cookie, its options and approve calls);
the computer is another client. Other files test each step's refusals.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import SESSION_KEY
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from lienthong.approvals.models import ApprovalRequest
from lienthong.approvals.tests.conftest import ORIGIN
from lienthong.approvals.views import DEVICE_COOKIE
from lienthong.audit.models import AuditRecord
from lienthong.dossiers import attachments, results, services
from lienthong.dossiers.models import ResultDocument, Status
from lienthong.dossiers.tests.conftest import result_pdf
from lienthong.identity.tests.authenticator import SoftAuthenticator
from lienthong.identity.tests.conftest import give_totp
from lienthong.portal.models import DeclarationSignature
from lienthong.portal.tests.conftest import MAI_ID
from lienthong.signing.tests.conftest import certified
from lienthong.trust.validation.report import Indication
from lienthong.trust.validation.service import validate_document

from .conftest import page_of

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def clock(time_machine):
    """Time stands still (a one-time code serves once per 30-second step)."""
    time_machine.move_to(timezone.now(), tick=False)
    return time_machine


@pytest.fixture(autouse=True)
def journey_settings(settings, trusted_test_pki):
    settings.IDENTITY_RP_ID = "localhost"
    settings.IDENTITY_ORIGINS = [ORIGIN]
    settings.TSA_URL = ""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings


def post_json(client: Client, url: str, body=None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def first_sign_in(computer: Client, identifier: str, totp) -> None:
    """Password, then the authenticator app's code: a finished sign-in."""
    assert (
        computer.post("/account/sign-in/", {"identifier": identifier, "password": PASSWORD})[
            "Location"
        ]
        == "/account/sign-in/verify/"
    )
    computer.post("/account/sign-in/verify/", {"method": "totp", "code": totp.now()})
    assert SESSION_KEY in computer.session


def pair_the_phone(computer: Client, name: str) -> tuple[Client, SoftAuthenticator]:
    """The computer shows the QR code's link; the phone opens it, confirms with a new
    passkey of its own, and keeps the app's cookie."""
    page = computer.post("/approvals/devices/pair/").content.decode()
    link = page.split("data-pairing-link>", 1)[1].split("<", 1)[0]
    phone, authenticator = Client(), SoftAuthenticator(origin=ORIGIN)
    assert phone.get(link.split("testserver", 1)[1])["Location"] == "/approvals/pair/confirm/"
    options = post_json(phone, "/approvals/pair/options/").json()
    registered = post_json(
        phone,
        "/approvals/pair/register/",
        {"credential": authenticator.create(options), "name": name},
    )
    assert registered.json() == {"redirect": "/approvals/app/"}
    assert DEVICE_COOKIE in phone.cookies
    return phone, authenticator


def add_a_passkey(computer: Client) -> SoftAuthenticator:
    key = SoftAuthenticator(origin=ORIGIN)
    options = post_json(computer, "/account/passkeys/register/options/").json()
    response = post_json(
        computer,
        "/account/passkeys/register/",
        {"credential": key.create(options), "name": "Máy tính"},
    )
    assert response.status_code == 200, response.content
    return key


def passkey_sign_in(user, key: SoftAuthenticator) -> Client:
    computer = Client()
    options = post_json(computer, "/account/sign-in/passkey/options/").json()
    response = post_json(computer, "/account/sign-in/passkey/", {"credential": key.get(options)})
    assert response.status_code == 200, response.content
    assert computer.session[SESSION_KEY] == str(user.pk)
    return computer


def approve_on_the_phone(phone: Client, authenticator: SoftAuthenticator, user, kind: str) -> dict:
    """The phone lists the request, shows what it approves, and approves it with its
    passkey (user verification); the summary it showed."""
    approval = ApprovalRequest.objects.get(user=user, kind=kind, state="pending")
    assert str(approval.pk) in phone.get("/approvals/app/").content.decode()
    options = post_json(phone, f"/approvals/app/requests/{approval.pk}/options/").json()
    answer = post_json(
        phone,
        f"/approvals/app/requests/{approval.pk}/approve/",
        {"credential": authenticator.get(options)},
    )
    assert answer.status_code == 200, answer.content
    return approval.summary


def phone_approved_sign_in(user, identifier: str, phone, authenticator) -> Client:
    computer = Client()
    computer.post("/account/sign-in/", {"identifier": identifier, "password": PASSWORD})
    assert computer.post("/approvals/sign-in/")["Location"] == "/approvals/sign-in/wait/"
    assert SESSION_KEY not in computer.session
    approve_on_the_phone(phone, authenticator, user, "sign_in")
    done = computer.get("/approvals/sign-in/wait/", HTTP_HX_REQUEST="true")
    assert done.has_header("HX-Redirect")
    assert computer.session[SESSION_KEY] == str(user.pk)
    return computer


def journey_to_the_phone(user, identifier: str, phone_name: str, clock):
    """Everything but the signature: (computer signed in with the phone, phone, its
    authenticator)."""
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    totp = give_totp(user)
    clock.shift(30)  # the enrolment's code is spent
    computer = Client()
    first_sign_in(computer, identifier, totp)
    phone, authenticator = pair_the_phone(computer, phone_name)
    key = add_a_passkey(computer)
    computer.post("/account/sign-out/")

    passkey_sign_in(user, key).post("/account/sign-out/")
    computer = phone_approved_sign_in(user, identifier, phone, authenticator)
    methods = [
        r.changes.get("methods")
        for r in AuditRecord.objects.filter(action="sign_in", actor=user).order_by("id")
    ]
    assert methods == [["password", "totp"], ["passkey"], ["password", "phone"]]
    return computer, phone, authenticator


def signed_pdf_is_total_passed(path: str) -> None:
    with attachments.open_blob(path) as handle:
        signed = handle.read()
    report = validate_document(data=signed, filename="signed.pdf")
    assert report.indication == Indication.TOTAL_PASSED


def test_a_citizen_pairs_signs_in_and_signs_her_declaration_on_the_phone(
    mai, dossier, trusted_test_pki, clock
):
    computer, phone, authenticator = journey_to_the_phone(mai, MAI_ID, "Điện thoại của Mai", clock)

    key = certified(mai, trusted_test_pki)
    response = computer.post(
        f"/dossiers/{dossier.code}/declaration/sign/",
        {"credential": key.credential_id, "phone": "1"},
    )
    assert response.status_code == 302, response.content.decode()[:500]
    wait = response["Location"]
    summary = approve_on_the_phone(phone, authenticator, mai, "signature")
    assert (
        summary["dossier_code"] == dossier.code
        and summary["agency"] == dossier.receiving_agency.name
    )
    assert computer.post(f"{wait}finish/")["Location"] == f"/dossiers/{dossier.code}/"

    signature = DeclarationSignature.objects.get(dossier=dossier)
    assert signature.certificate_sha256 == key.fingerprint_sha256
    signed_pdf_is_total_passed(signature.attachment.path)


def test_an_officer_pairs_signs_in_and_signs_a_result_on_the_phone(
    hung, xanh, dossier, lan, minh, trusted_test_pki, clock
):
    accepted = services.accept(actor=lan, dossier=dossier, expected_version=dossier.version)
    processing = services.process(actor=minh, dossier=accepted, expected_version=accepted.version)
    computer, phone, authenticator = journey_to_the_phone(
        hung, "hung.lanhdao", "Điện thoại của Hùng", clock
    )

    key = certified(hung, trusted_test_pki, label="Chữ ký của Hùng")
    response = computer.post(
        page_of(xanh, processing) + "approve/",
        {
            "approve-version": processing.version,
            "approve-signature": "phone",
            "approve-result": SimpleUploadedFile(
                "ket-qua.pdf", result_pdf("Quyet dinh - TEST"), "application/pdf"
            ),
        },
    )
    assert response.status_code == 302, response.content.decode()[:500]
    wait = response["Location"]
    summary = approve_on_the_phone(phone, authenticator, hung, "signature")
    assert summary["dossier_code"] == processing.code and summary["agency"] == xanh.name
    assert computer.post(wait + "finish/")["Location"] == page_of(xanh, processing)

    processing.refresh_from_db()
    assert processing.status == Status.DONE
    document = ResultDocument.objects.get(dossier=processing)
    assert document.certificate_sha256 == key.fingerprint_sha256
    assert results.verify_result(processing).indication == Indication.TOTAL_PASSED
