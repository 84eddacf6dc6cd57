"""An external CSC service for personal signatures: the user's linked account there.

The "external" service is this node's own /csc/v2/ API, reached over httpx
through a transport that hands each request to Django's test client (so it
runs in the test's transaction), beside a small OAuth 2.0 token endpoint
(``oauth2/token`` and ``oauth2/revoke``) as a CA's authorization server has.
Mai's key and her ``ltsig_`` token are the service's; this node knows her
only by her linked account (``LIENTHONG_SIGNING_PROVIDER=csc``).
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.test import Client

from lienthong.audit.models import AuditRecord
from lienthong.signing import links, providers
from lienthong.signing import pdf as remote_pdf
from lienthong.signing.errors import SigningRefused
from lienthong.signing.models import ProviderLink
from lienthong.signing.tests.conftest import next_code
from lienthong.trust.tests import documents

SERVICE = "http://localhost:8443"


class ExternalService(httpx.BaseTransport):
    """The CSC API of this node through the test client; OAuth answers from ``grants``."""

    def __init__(self):
        self.client = Client()
        self.calls: list[tuple[str, dict]] = []
        # What oauth2/token answers, by grant type (a dict, or an HTTP status to refuse).
        self.grants: dict[str, object] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/oauth2/"):
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            self.calls.append((path, form))
            if path == "/oauth2/revoke":
                return httpx.Response(200)
            answer = self.grants.get(form.get("grant_type", ""), 400)
            if isinstance(answer, int):
                return httpx.Response(answer, json={"error": "invalid_grant"})
            return httpx.Response(200, json=answer)
        self.calls.append((path, {}))
        response = self.client.generic(
            request.method,
            path,
            data=request.content,
            content_type=request.headers.get("content-type", "application/json"),
            HTTP_AUTHORIZATION=request.headers.get("authorization", ""),
        )
        return httpx.Response(
            response.status_code,
            headers={"content-type": response.get("Content-Type", "application/json")},
            content=response.content,
        )


@pytest.fixture
def service(settings, monkeypatch):
    settings.SIGNING_PROVIDER = "csc"
    settings.SIGNING_CSC_URL = SERVICE
    settings.SIGNING_CSC_CLIENT_ID = "lienthong-node"
    settings.SIGNING_CSC_CLIENT_SECRET = "s3cret"
    transport = ExternalService()
    monkeypatch.setattr(providers, "http_client", lambda: httpx.Client(transport=transport))
    return transport


def linked(user, token):
    return links.link_with_token(user=user, token=token, source="test")


def test_without_a_linked_account_nothing_reaches_the_service(mai, mai_key, service):
    with pytest.raises(SigningRefused) as refused:
        providers.usable_credentials(mai)
    assert (refused.value.code, refused.value.status) == ("provider_not_linked", 409)
    assert refused.value.message_vi.startswith("Bạn chưa liên kết")
    assert service.calls == []


def test_a_token_is_checked_at_the_service_then_kept_sealed(mai, binh, mai_key, mai_token, service):
    link = linked(mai, mai_token)

    assert service.calls == [("/csc/v2/credentials/list", {})]
    assert mai_token.encode() not in bytes(link.sealed_access_token)
    assert links.access_token_for(mai) == mai_token
    record = AuditRecord.objects.get(action="provider_linked")
    assert record.changes["method"] == "token" and mai_token not in json.dumps(record.changes)
    # The sealed token is bound to its user: copied onto someone else's link it does not open.
    ProviderLink.objects.create(
        user=binh,
        service_url=SERVICE,
        method="token",
        sealed_access_token=link.sealed_access_token,
        created_at=link.created_at,
    )
    with pytest.raises(SigningRefused) as refused:
        links.access_token_for(binh)
    assert refused.value.code == "key_unavailable"


def test_a_token_the_service_refuses_is_not_kept(mai, service):
    with pytest.raises(SigningRefused) as refused:
        linked(mai, "ltsig_not-a-token")
    assert refused.value.code == "provider_token_refused"
    assert not ProviderLink.objects.exists()
    assert AuditRecord.objects.filter(action="provider_refused").exists()


def test_the_users_credentials_come_from_the_service(mai, mai_key, mai_token, service):
    linked(mai, mai_token)
    (credential,) = providers.usable_credentials(mai)
    assert isinstance(credential, providers.RemoteCredential)
    assert credential.credential_id == mai_key.credential_id
    assert credential.fingerprint_sha256 == mai_key.fingerprint_sha256
    assert credential.subject == mai_key.subject and credential.is_usable()
    assert providers.credential_for(mai, "lt-nothing") is None


def test_a_pdf_is_signed_through_the_service_with_the_linked_token(
    mai, mai_key, mai_token, mai_totp, clock, service
):
    linked(mai, mai_token)
    signed = remote_pdf.sign_pdf(
        user=mai, credential=mai_key.credential_id, pdf=documents.plain_pdf(),
        otp=next_code(mai_totp, clock),
    )  # fmt: skip
    assert signed.startswith(b"%PDF") and b"/ByteRange" in signed
    paths = [path for path, _form in service.calls]
    assert "/csc/v2/credentials/authorize" in paths and "/csc/v2/signatures/signHash" in paths


def test_the_two_step_signature_uses_the_link_in_both_halves(
    mai, mai_key, mai_token, mai_totp, clock, service
):
    linked(mai, mai_token)
    pending = remote_pdf.begin_pdf_signature(
        user=mai, credential=mai_key.credential_id, pdf=documents.plain_pdf("To khai"),
        purpose="test:1",
    )  # fmt: skip
    signed = remote_pdf.finish_pending_signature(
        user=mai, reference=pending.reference, purpose="test:1", otp=next_code(mai_totp, clock)
    )
    assert b"/ByteRange" in signed


def test_unlinking_wipes_the_tokens_and_signing_stops(mai, mai_key, mai_token, service):
    linked(mai, mai_token)
    assert links.unlink(user=mai, source="test") is True
    link = ProviderLink.objects.get(user=mai)
    assert link.revoked_at is not None and bytes(link.sealed_access_token) == b""
    assert AuditRecord.objects.filter(action="provider_unlinked").exists()
    with pytest.raises(SigningRefused) as refused:
        providers.usable_credentials(mai)
    assert refused.value.code == "provider_not_linked"
    assert links.unlink(user=mai, source="test") is False


# --- OAuth 2.0: the service's authorization-code flow --------------------------------


def oauth_link(mai, service, *, expires_in=3600):
    url, kept = links.start_oauth(
        redirect_uri="https://node.example/account/signing/service/callback/"
    )
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{SERVICE}/oauth2/authorize?")
    assert query["client_id"] == ["lienthong-node"] and query["code_challenge_method"] == ["S256"]
    service.grants["authorization_code"] = {
        "access_token": "at-1", "refresh_token": "rt-1", "expires_in": expires_in,
        "token_type": "Bearer",
    }  # fmt: skip
    return links.finish_oauth(
        user=mai, kept=kept, state=query["state"][0], code="the-code", source="test"
    ), kept


def test_the_code_is_exchanged_with_its_pkce_verifier(mai, service, clock):
    link, kept = oauth_link(mai, service)
    (path, form) = service.calls[-1]
    assert path == "/oauth2/token"
    assert form["code"] == "the-code" and form["code_verifier"] == kept["verifier"]
    assert form["client_secret"] == "s3cret"
    assert link.method == "oauth2" and links.access_token_for(mai) == "at-1"


def test_a_forged_or_replayed_state_is_refused(mai, service, clock):
    _url, kept = links.start_oauth(redirect_uri="https://node.example/cb/")
    with pytest.raises(SigningRefused) as refused:
        links.finish_oauth(user=mai, kept=kept, state="forged", code="c", source="test")
    assert refused.value.code == "provider_link_state"
    with pytest.raises(SigningRefused):
        links.finish_oauth(user=mai, kept=None, state=kept["state"], code="c", source="test")
    assert not ProviderLink.objects.exists() and service.calls == []


def test_an_expired_token_is_refreshed_once_then_used(mai, service, clock):
    oauth_link(mai, service, expires_in=600)
    service.grants["refresh_token"] = {
        "access_token": "at-2", "refresh_token": "rt-2", "expires_in": 600,
    }  # fmt: skip
    clock.shift(dt.timedelta(seconds=590))  # within a minute of its end

    assert links.access_token_for(mai) == "at-2"
    assert links.access_token_for(mai) == "at-2"  # refreshed once
    clock.shift(dt.timedelta(seconds=600))
    links.access_token_for(mai)  # with the rotated refresh token
    refreshes = [f for p, f in service.calls if f.get("grant_type") == "refresh_token"]
    assert [f["refresh_token"] for f in refreshes] == ["rt-1", "rt-2"]
    assert AuditRecord.objects.filter(action="provider_refreshed").count() == 2


def test_a_refused_refresh_ends_the_link(mai, service, clock):
    oauth_link(mai, service, expires_in=600)
    service.grants["refresh_token"] = 400
    clock.shift(dt.timedelta(seconds=700))
    with pytest.raises(SigningRefused) as refused:
        links.access_token_for(mai)
    assert refused.value.code == "provider_link_expired"
    assert links.live_link(mai) is None
    assert AuditRecord.objects.get(action="provider_unlinked").changes["reason"] == (
        "refresh_refused"
    )


def test_unlinking_an_oauth_link_revokes_it_at_the_service(mai, service, clock):
    oauth_link(mai, service)
    assert links.unlink(user=mai, source="test")
    path, form = service.calls[-1]
    assert path == "/oauth2/revoke" and form["token"] == "rt-1"
    record = AuditRecord.objects.get(action="provider_unlinked")
    assert record.changes["revoked_at_service"] is True


# --- The page ----------------------------------------------------------------------------


def test_the_page_links_with_a_token_and_unlinks(client, mai, mai_key, mai_token, service):
    client.force_login(mai)
    page = client.get("/account/signing/")
    assert b'action="/account/signing/service/token/"' in page.content
    response = client.post("/account/signing/service/token/", {"token": mai_token})
    assert response.status_code == 302
    assert links.live_link(mai) is not None
    assert mai_token.encode() not in client.get("/account/signing/").content
    bad = client.post("/account/signing/service/token/", {"token": "ltsig_wrong"})
    assert bad.status_code == 400
    assert client.post("/account/signing/service/unlink/").status_code == 302
    assert links.live_link(mai) is None


def test_the_page_sends_the_user_to_the_service_and_takes_the_code_back(
    client, mai, service, settings, clock
):
    settings.SIGNING_CSC_LINK = "oauth2"
    client.force_login(mai)
    response = client.post("/account/signing/service/link/")
    assert response.status_code == 302 and response["Location"].startswith(SERVICE)
    state = parse_qs(urlsplit(response["Location"]).query)["state"][0]
    service.grants["authorization_code"] = {"access_token": "at-9", "expires_in": 3600}
    back = client.get("/account/signing/service/callback/", {"code": "c", "state": state})
    assert back.status_code == 302
    assert links.access_token_for(mai) == "at-9"
    # The state answers once.
    again = client.get("/account/signing/service/callback/", {"code": "c", "state": state})
    assert again.status_code == 400


def test_the_leaders_personal_credential_is_the_services(mai, mai_key, mai_token, service):
    from lienthong.dossiers import results

    assert results.personal_credential(mai) is None  # not linked: the form offers nothing
    with pytest.raises(SigningRefused) as refused:
        results.personal_credential(mai, strict=True)  # signing says why
    assert refused.value.code == "provider_not_linked" and "provider_not_linked" in (
        results.LEADER_REFUSALS
    )
    linked(mai, mai_token)
    credential = results.personal_credential(mai, strict=True)
    assert credential.credential_id == mai_key.credential_id
    assert results._credential_name(credential) == "Nguyễn Thị Mai"
