"""CSC ``oauth2code``: a pending signature authorised at the external service by OAuth.

The service is the stand-in of ``oauth_service``: its credential says
``authMode`` "oauth2code"; the user authorises the exact hashes at its
``oauth2/authorize`` (scope "credential", PKCE), the code gives a token of
scope "credential" that signs those hashes once at ``signatures/signHash``.
"""

from __future__ import annotations

import base64
import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from lienthong.audit.models import AuditRecord
from lienthong.signing import keys, oauth2code, providers
from lienthong.signing import pdf as remote_pdf
from lienthong.signing.errors import SigningRefused
from lienthong.signing.models import PendingSignature
from lienthong.signing.tests.oauth_service import (
    CREDENTIAL_ID,
    SERVICE,
    b64url_decode,
    link,
    use_service,
)
from lienthong.trust.tests import documents

CALLBACK = "/account/signing/service/authorize/callback/"


@pytest.fixture
def oauth_service(settings, monkeypatch, mai_key):
    return use_service(settings, monkeypatch, mai_key)


def begin(user, *, purpose="test:1"):
    return remote_pdf.begin_pdf_signature(
        user=user, credential=CREDENTIAL_ID, pdf=documents.plain_pdf("To khai"), purpose=purpose
    )


def start(user, pending, *, wait_url="/wait/", back_url="/back/"):
    return oauth2code.start(
        user=user,
        pending=pending,
        redirect_uri=f"http://testserver{CALLBACK}",
        wait_url=wait_url,
        back_url=back_url,
        source="test",
    )


def test_the_credential_says_it_is_authorised_by_oauth(mai, clock, oauth_service):
    link(mai)
    (credential,) = providers.usable_credentials(mai)
    assert credential.credential_id == CREDENTIAL_ID
    assert credential.auth_mode == "oauth2code" and oauth2code.uses_oauth2code(credential)
    assert credential.otp_sent_by_service is False


def test_the_user_is_sent_with_the_exact_hashes_and_pkce(mai, clock, oauth_service):
    link(mai)
    pending = begin(mai)
    url, kept = start(mai, pending)
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{SERVICE}/oauth2/authorize"
    assert query["scope"] == "credential" and query["response_type"] == "code"
    assert query["credentialID"] == CREDENTIAL_ID and query["numSignatures"] == "1"
    assert query["hashAlgorithmOID"] == keys.SHA256
    assert [b64url_decode(h) for h in query["hashes"].split(",")] == [
        base64.b64decode(h) for h in pending.hashes
    ]
    assert "=" not in query["hashes"] and "+" not in query["hashes"]
    assert query["code_challenge_method"] == "S256" and query["state"] == kept["state"]
    assert kept["verifier"] not in url
    assert (kept["reference"], kept["purpose"]) == (pending.reference, "test:1")
    record = AuditRecord.objects.get(action="provider_asked")
    assert record.changes["hashes"] == [base64.b64decode(pending.hashes[0]).hex()]


def test_authorised_at_the_service_the_pending_signature_is_finished(mai, clock, oauth_service):
    link(mai)
    pending = begin(mai)
    url, kept = start(mai, pending)
    back = urlsplit(oauth_service.authorize(url))
    query = {k: v[0] for k, v in parse_qs(back.query).items()}

    row = oauth2code.finish(user=mai, kept=kept, state=query["state"], code=query["code"])
    (path, form, _bearer) = oauth_service.calls[-1]
    assert path == "/oauth2/token" and form["code_verifier"] == kept["verifier"]
    assert remote_pdf.authorized_at_service(row)
    token = next(iter(oauth_service.tokens))
    assert token not in str(PendingSignature.objects.get(pk=pending.pk).context)  # sealed

    signed = remote_pdf.finish_pending_signature(
        user=mai, reference=pending.reference, purpose="test:1"
    )
    assert signed.startswith(b"%PDF") and b"/ByteRange" in signed
    (path, body, bearer) = oauth_service.calls[-1]
    assert path == "/csc/v2/signatures/signHash" and bearer == token and "SAD" not in body
    row = PendingSignature.objects.get(pk=pending.pk)
    assert row.consumed_at is not None and not remote_pdf.authorized_at_service(row)
    assert AuditRecord.objects.filter(
        action="signing_authorized", changes__method="oauth2code"
    ).exists()
    # Spent with the row: the same authorisation signs nothing twice.
    with pytest.raises(SigningRefused) as refused:
        remote_pdf.finish_pending_signature(user=mai, reference=pending.reference)
    assert refused.value.code == "pending_used"


def refusal_of(callable_, **kwargs) -> str:
    with pytest.raises(SigningRefused) as refused:
        callable_(**kwargs)
    return refused.value.code


def test_a_wrong_or_replayed_state_signs_nothing(mai, binh, clock, oauth_service):
    link(mai)
    pending = begin(mai)
    url, kept = start(mai, pending)
    code = parse_qs(urlsplit(oauth_service.authorize(url)).query)["code"][0]
    assert (
        refusal_of(oauth2code.finish, user=mai, kept=kept, state="forged", code=code)
        == "provider_authorize_state"
    )
    assert (
        refusal_of(oauth2code.finish, user=mai, kept=None, state=kept["state"], code=code)
        == "provider_authorize_state"
    )
    # Another user cannot finish it with what this one's session kept.
    assert (
        refusal_of(oauth2code.finish, user=binh, kept=kept, state=kept["state"], code=code)
        == "provider_authorize_state"
    )
    assert "/oauth2/token" not in oauth_service.paths()
    assert not remote_pdf.authorized_at_service(PendingSignature.objects.get(pk=pending.pk))
    assert (
        AuditRecord.objects.filter(
            action="pending_refused", changes__refused="provider_authorize_state"
        ).count()
        == 3
    )


def test_an_expired_or_used_pending_signature_is_refused(mai, clock, oauth_service):
    link(mai)
    pending = begin(mai)
    url, kept = start(mai, pending)
    code = parse_qs(urlsplit(oauth_service.authorize(url)).query)["code"][0]
    PendingSignature.objects.filter(pk=pending.pk).update(consumed_at=pending.created_at)
    assert (
        refusal_of(oauth2code.finish, user=mai, kept=kept, state=kept["state"], code=code)
        == "pending_used"
    )

    other = begin(mai, purpose="test:2")
    url, kept = start(mai, other)
    code = parse_qs(urlsplit(oauth_service.authorize(url)).query)["code"][0]
    clock.shift(dt.timedelta(minutes=9))
    kept["at"] = kept["at"] + 9 * 60  # the state itself is still young
    clock.shift(dt.timedelta(minutes=2))
    assert (
        refusal_of(oauth2code.finish, user=mai, kept=kept, state=kept["state"], code=code)
        == "pending_expired"
    )
    assert not PendingSignature.objects.filter(pk=other.pk).exists()
    assert "/oauth2/token" not in oauth_service.paths()
    refused = set(
        AuditRecord.objects.filter(action="pending_refused").values_list(
            "changes__refused", flat=True
        )
    )
    assert refused == {"pending_used", "pending_expired"}


def test_an_authorisation_for_other_hashes_signs_nothing(mai, clock, oauth_service):
    link(mai)
    pending = begin(mai)
    url, kept = start(mai, pending)
    code = parse_qs(urlsplit(oauth_service.authorize(url)).query)["code"][0]
    kept["hashes"] = [base64.b64encode(b"\x01" * 32).decode()]
    assert (
        refusal_of(oauth2code.finish, user=mai, kept=kept, state=kept["state"], code=code)
        == "provider_other_hashes"
    )
    assert "/oauth2/token" not in oauth_service.paths()
    assert AuditRecord.objects.filter(
        action="pending_refused", changes__refused="provider_other_hashes"
    ).exists()


def test_a_denial_or_a_refused_code_signs_nothing(mai, clock, oauth_service):
    link(mai)
    pending = begin(mai)
    url, kept = start(mai, pending)
    denied = parse_qs(urlsplit(oauth_service.authorize(url, deny=True)).query)
    assert refusal_of(
        oauth2code.finish, user=mai, kept=kept, state=kept["state"], code="",
        error=denied["error"][0],
    ) == "provider_authorize_refused"  # fmt: skip
    # A code the service does not know (or with another verifier) is refused there.
    assert (
        refusal_of(oauth2code.finish, user=mai, kept=kept, state=kept["state"], code="made-up")
        == "provider_authorize_refused"
    )
    assert not remote_pdf.authorized_at_service(PendingSignature.objects.get(pk=pending.pk))
    with pytest.raises(SigningRefused) as refused:
        remote_pdf.finish_pending_signature(user=mai, reference=pending.reference)
    assert refused.value.code != "pending_used"
    assert "/csc/v2/signatures/signHash" not in oauth_service.paths()


def test_the_callback_page_goes_on_to_the_wait_page_once(mai, clock, oauth_service):
    link(mai)
    client = Client()
    client.force_login(mai)
    pending = begin(mai)
    url, kept = start(mai, pending, wait_url="/some/wait/", back_url="/some/dossier/")
    session = client.session
    oauth2code.remember(session, kept)
    session.save()
    back = urlsplit(oauth_service.authorize(url))
    assert back.path == CALLBACK

    response = client.get(f"{back.path}?{back.query}")
    assert response.status_code == 302 and response["Location"] == "/some/wait/"
    assert remote_pdf.authorized_at_service(PendingSignature.objects.get(pk=pending.pk))
    # The state is used once: replayed, it goes back with the refusal.
    again = client.get(f"{back.path}?{back.query}")
    assert again["Location"] == "/account/signing/"
    forged = client.get(f"{CALLBACK}?state=forged&code=x")
    assert forged["Location"] == "/account/signing/"


def test_a_code_sent_by_the_service_is_asked_there(mai, clock, settings, monkeypatch, mai_key):
    service = use_service(settings, monkeypatch, mai_key, auth_mode="explicit")
    link(mai)
    (credential,) = providers.usable_credentials(mai)
    assert credential.auth_mode == "explicit" and credential.otp_sent_by_service
    oauth2code.send_otp(user=mai, credential_id=CREDENTIAL_ID, source="test")
    assert service.otp_sent == 1
    assert AuditRecord.objects.get(action="provider_send_otp").changes["outcome"] == "sent"


@pytest.mark.parametrize(
    ("otp", "sent"), [({"type": "online"}, True), ({"type": "offline"}, False)]
)
def test_csc_1_says_whether_it_sends_the_code(
    mai, clock, settings, monkeypatch, mai_key, otp, sent
):
    use_service(settings, monkeypatch, mai_key, auth_mode="explicit", otp=otp)
    link(mai)
    (credential,) = providers.usable_credentials(mai)
    assert credential.otp_sent_by_service is sent
