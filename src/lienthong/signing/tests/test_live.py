"""CSC clients over real HTTP: pyHanko's own CSCSigner, and our CscHttpProvider.

Both talk to this node's /csc/v2/ on a live server (the project's
``browser_server``: pytest-django's ``live_server`` would need
``transactional_db``, whose flush empties the reference data). The server's
threads see only committed rows, so the persona here is committed and retired
afterwards, as in identity's browser test; audit records stay.

The signed PDFs are validated by pyHanko against the two TEST roots only:
intact, valid, trusted — TOTAL-PASSED in ETSI terms.
"""

from __future__ import annotations

import asyncio
import io

import aiohttp
import pyotp
import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connections
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.csc_signer import (
    CSCAuthorizationInfo,
    CSCAuthorizationManager,
    CSCServiceSessionInfo,
    CSCSigner,
    fetch_certs_in_csc_credential,
)
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from lienthong.audit.models import AuditRecord
from lienthong.identity import factors, services
from lienthong.identity.models import Account, BackupCode, TotpDevice
from lienthong.signing import api, links, tokens
from lienthong.signing import pdf as remote_pdf
from lienthong.signing import services as signing
from lienthong.signing.models import (
    AccessToken,
    ProviderLink,
    SignatureAuthorization,
    SigningCredential,
)
from lienthong.signing.providers import CscHttpProvider
from lienthong.trust.tests import documents

ROOTS = ("public-root", "government-root")


@pytest.fixture(autouse=True)
def signing_settings(settings, django_db_blocker):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with django_db_blocker.unblock():
        cache.clear()


@pytest.fixture
def holder(django_db_setup, django_db_blocker, test_pki, request):
    """Chị Thu, committed: account, authenticator app, certified key, access token."""
    personal_id = "001190077" + str(100 + len(request.node.name) % 900)
    with django_db_blocker.unblock():
        user = services.create_account(
            actor="test",
            kind="citizen",
            display_name="Phạm Thị Thu",
            personal_id=personal_id,
            password=None,
            source="test",
        ).user
        secret, _codes = factors.issue_totp(actor="test", user=user, source="test")
        credential = signing.create_credential(actor="test", user=user, source="test")
        credential = signing.issue_test_certificate(
            actor="test", credential=credential, pki=test_pki, source="test"
        )
        token, _row = tokens.issue_access_token(user=user, client_name="pyHanko", source="test")
    # The server's threads query the database while the test runs.
    with django_db_blocker.unblock():
        yield {"user": user, "totp": pyotp.TOTP(secret), "credential": credential, "token": token}
    with django_db_blocker.unblock():
        SignatureAuthorization.objects.filter(user=user).delete()
        ProviderLink.objects.filter(user=user).delete()
        AccessToken.objects.filter(user=user).delete()
        SigningCredential.objects.filter(user=user).delete()
        TotpDevice.objects.filter(user=user).delete()
        BackupCode.objects.filter(user=user).delete()
        Account.objects.filter(user=user).delete()
        get_user_model().objects.filter(pk=user.pk).update(
            is_active=False, username=f"retired-{user.pk}"
        )
        cache.clear()
        connections.close_all()


def trusted(signed: bytes, pki) -> None:
    (embedded,) = PdfFileReader(io.BytesIO(signed)).embedded_signatures
    context = ValidationContext(
        trust_roots=[pki.certificate(label) for label in ROOTS], allow_fetching=True
    )
    status = validate_pdf_signature(embedded, context)
    assert (status.intact, status.valid, status.trusted) == (True, True, True), (
        status.pretty_print_details()
    )
    assert status.bottom_line


class OtpAuthorization(CSCAuthorizationManager):
    """What a signing app does: asks its user for a code and authorises the hashes."""

    def __init__(self, session, session_info, credential_info, otp: str):
        super().__init__(session_info, credential_info)
        self.session = session
        self.otp = otp

    async def authorize_signature(self, hash_b64s: list[str]) -> CSCAuthorizationInfo:
        body = self.format_csc_auth_request(otp=self.otp, hash_b64s=hash_b64s)
        async with self.session.post(
            self.csc_session_info.endpoint_url("credentials/authorize"),
            json=body,
            headers=self.auth_headers,
            raise_for_status=True,
        ) as response:
            return self.parse_csc_auth_response(await response.json())


async def sign_with_pyhanko(base_url: str, holder: dict, pdf: bytes, tsa_url: str) -> bytes:
    async with aiohttp.ClientSession() as session:
        session_info = CSCServiceSessionInfo(
            service_url=base_url,
            credential_id=holder["credential"].credential_id,
            oauth_token=holder["token"],
            api_ver="v2",
        )
        credential_info = await fetch_certs_in_csc_credential(session, session_info)
        assert credential_info.hash_pinning_required  # SCAL 2
        signer = CSCSigner(
            session,
            auth_manager=OtpAuthorization(
                session, session_info, credential_info, holder["totp"].now()
            ),
        )
        pdf_signer = signers.PdfSigner(
            signers.PdfSignatureMetadata(
                field_name="Signature1",
                md_algorithm="sha256",
                subfilter=fields.SigSeedSubFilter.PADES,
            ),
            signer=signer,
            timestamper=HTTPTimeStamper(tsa_url, session=session),
        )
        output = await pdf_signer.async_sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)))
        return output.getvalue()


def test_pyhankos_csc_signer_signs_a_pdf_that_validates(browser_server, holder, test_pki):
    signed = asyncio.run(
        sign_with_pyhanko(browser_server, holder, documents.plain_pdf(), test_pki.tsa_url)
    )
    trusted(signed, test_pki)


def test_the_csc_http_provider_signs_through_another_nodes_api(browser_server, holder, test_pki):
    provider = CscHttpProvider(browser_server, access_token=holder["token"])
    assert provider.list_credentials(user=holder["user"]) == [holder["credential"].credential_id]

    signed = remote_pdf.sign_pdf(
        user=holder["user"],
        credential=holder["credential"].credential_id,
        pdf=documents.plain_pdf(),
        otp=holder["totp"].now(),
        provider=provider,
        timestamp_url=test_pki.tsa_url,
    )
    trusted(signed, test_pki)


def test_a_linked_account_signs_through_the_configured_external_service(
    browser_server, holder, test_pki, settings
):
    settings.SIGNING_PROVIDER = "csc"
    settings.SIGNING_CSC_URL = browser_server
    links.link_with_token(user=holder["user"], token=holder["token"], source="test")
    signed = remote_pdf.sign_pdf(  # get_provider(): the service, with the linked token
        user=holder["user"],
        credential=holder["credential"].credential_id,
        pdf=documents.plain_pdf(),
        otp=holder["totp"].now(),
        timestamp_url=test_pki.tsa_url,
    )
    trusted(signed, test_pki)
    # Signed by the service's API (over HTTP), not by this process's LocalProvider.
    record = AuditRecord.objects.filter(action="signature_created").latest("pk")
    assert record.source == api.SOURCE


def test_the_csc_http_provider_reports_the_nodes_refusal(browser_server, holder, test_pki):
    from lienthong.signing.errors import SigningRefused

    provider = CscHttpProvider(browser_server, access_token=holder["token"])
    with pytest.raises(SigningRefused) as refused:
        provider.credential_info(user=holder["user"], credential_id="lt-nothing")
    assert (refused.value.code, refused.value.csc_error) == (
        "unknown_credential",
        "invalid_request",
    )
    assert refused.value.message_vi.startswith("Không tìm thấy")
    provider = CscHttpProvider(browser_server, access_token="wrong")
    with pytest.raises(SigningRefused) as refused:
        provider.list_credentials(user=holder["user"])
    assert (refused.value.status, refused.value.code) == (401, "invalid_token")


@pytest.mark.django_db
def test_the_csc_api_documents_its_endpoints(client):
    # (Also: pytest-django creates the test database only for a session holding
    # a test that uses ``db``; this is one, for the live tests above.)
    paths = client.get("/csc/v2/openapi.json").json()["paths"]
    assert {"/csc/v2/credentials/authorize", "/csc/v2/signatures/signHash"} <= set(paths)
