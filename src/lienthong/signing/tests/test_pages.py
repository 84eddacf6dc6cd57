"""/account/signing/: the holder sees their keys and gives applications tokens."""

from __future__ import annotations

from django.core.checks import run_checks
from django.utils import timezone

from lienthong.signing.models import AccessToken, SigningCredential
from lienthong.signing.tokens import authenticate_token


def test_the_page_lists_the_holders_keys_only(client, mai, mai_key, binh_key):
    client.force_login(mai)
    page = client.get("/account/signing/").content.decode()
    assert mai_key.credential_id in page
    assert binh_key.credential_id not in page
    assert timezone.localtime(mai_key.not_after).strftime("%d/%m/%Y") in page  # Hà Nội time
    assert mai_key.fingerprint_sha256.upper()[:4] in page


def test_a_signed_out_visitor_is_sent_to_sign_in(client, db):
    assert client.get("/account/signing/")["Location"].startswith("/account/sign-in/")


def test_a_key_is_requested_and_waits_for_its_certificate(client, mai):
    client.force_login(mai)
    response = client.post("/account/signing/keys/", {"label": "Chữ ký của Mai"})
    assert response.status_code == 302
    credential = SigningCredential.objects.get(user=mai)
    assert credential.label == "Chữ ký của Mai"
    page = client.get("/account/signing/").content.decode()
    assert "BEGIN CERTIFICATE REQUEST" in page


def test_a_token_is_shown_once_and_works_until_revoked(client, mai):
    client.force_login(mai)
    page = client.post("/account/signing/tokens/", {"client_name": "VNPT SmartCA"}).content.decode()
    token = AccessToken.objects.get(user=mai)
    raw = page.split("<code>")[1].split("</code>")[0]
    assert authenticate_token(raw) == token
    assert raw not in client.get("/account/signing/").content.decode()

    client.post(f"/account/signing/tokens/{token.pk}/revoke/")
    assert authenticate_token(raw) is None


def test_nobody_revokes_someone_elses_token(client, mai, binh):
    from lienthong.signing.tokens import issue_access_token

    _raw, token = issue_access_token(user=mai, client_name="x", source="test")
    client.force_login(binh)
    assert client.post(f"/account/signing/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_an_external_provider_without_an_https_address_stops_the_node(settings, db):
    settings.SIGNING_PROVIDER = "csc"
    settings.SIGNING_CSC_URL = "http://ca.example.vn"
    assert "lienthong.signing.E001" in [e.id for e in run_checks()]
    settings.SIGNING_CSC_URL = "https://ca.example.vn"
    assert "lienthong.signing.E001" not in [e.id for e in run_checks()]


def test_the_admin_shows_credentials_without_key_material(client, operator, mai_key):
    client.force_login(operator)
    listing = client.get("/admin/signing/signingcredential/")
    assert listing.status_code == 200
    detail = client.get(f"/admin/signing/signingcredential/{mai_key.pk}/change/")
    assert detail.status_code == 200
    assert mai_key.fingerprint_sha256 in detail.content.decode()
    assert "sealed_private_key" not in detail.content.decode()
