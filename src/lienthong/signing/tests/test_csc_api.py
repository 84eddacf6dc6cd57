"""The CSC API v2 endpoints: what a signing application gets, and every refusal.

Chị Mai's application holds a token; she authorises hashes with a code of her
authenticator app and the application signs them. Anyone else — anh Bình,
an application without a token, a tampered or spent SAD — is refused with a
CSC error and a stable code, and every refusal is audited.
"""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest
from cryptography import x509

from lienthong.audit.models import AuditRecord
from lienthong.signing import keys, tokens
from lienthong.signing import services as signing
from lienthong.signing.models import AccessToken, SignatureAuthorization
from lienthong.signing.tests.conftest import Csc, b64, digest, next_code

SHA256_ECDSA = "1.2.840.10045.4.3.2"


def refusal(response, status: int, code: str, error: str = "invalid_request"):
    body = response.json()
    assert (response.status_code, body["code"], body["error"]) == (status, code, error), body
    assert body["error_description"] == body["message_en"]
    assert body["message_vi"]
    return body


def authorized(csc, key, totp, clock, hashes):
    response = csc.authorize(key, hashes, next_code(totp, clock))
    assert response.status_code == 200, response.json()
    return response.json()["SAD"]


# --- info, tokens -------------------------------------------------------------------


def test_info_needs_no_token_and_names_the_endpoints(client, db):
    body = Csc(client, None)("info").json()
    assert body["specs"] == "2.0.0.2"
    assert body["lang"] == "vi-VN"
    assert "signatures/signHash" in body["methods"]


@pytest.mark.parametrize("token", [None, "ltsig_not-a-token"])
def test_without_a_valid_token_nothing_else_answers(csc, token):
    response = csc("credentials/list", {}, token=token or "")
    refusal(response, 401, "invalid_token", "invalid_token")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_an_expired_or_revoked_token_is_refused(csc, mai, mai_token, clock):
    clock.shift(timedelta(hours=1, seconds=1))
    refusal(csc("credentials/list"), 401, "invalid_token", "invalid_token")
    raw, token = tokens.issue_access_token(user=mai, client_name="x", source="test")
    assert csc("credentials/list", token=raw).status_code == 200
    tokens.revoke_access_token(actor=mai, token=token, source="test")
    refusal(csc("credentials/list", token=raw), 401, "invalid_token", "invalid_token")


def test_tokens_are_kept_as_hashes_only(mai, mai_token):
    token = AccessToken.objects.get(user=mai)
    assert mai_token not in token.token_hash
    assert tokens.authenticate_token(mai_token) == token


# --- credentials/list and credentials/info ------------------------------------------


def test_the_list_names_only_the_callers_usable_credentials(csc, mai, mai_key, binh_key):
    pending = signing.create_credential(actor="test", user=mai, source="test")
    body = csc("credentials/list").json()
    assert body == {"credentialIDs": [mai_key.credential_id]}
    assert pending.credential_id not in body["credentialIDs"]


def test_info_gives_the_chain_the_key_and_scal_2(csc, mai_key, trusted_test_pki):
    body = csc(
        "credentials/info",
        {"credentialID": mai_key.credential_id, "certificates": "chain", "certInfo": True},
    ).json()
    certificates = [
        x509.load_der_x509_certificate(base64.b64decode(c)) for c in body["cert"]["certificates"]
    ]
    assert certificates[0].fingerprint(keys.hashes.SHA256()).hex() == mai_key.fingerprint_sha256
    assert [c.subject.rfc4514_string() for c in certificates[1:]] == [
        x509.load_der_x509_certificate(
            trusted_test_pki.certificate(label).dump()
        ).subject.rfc4514_string()
        for label in ("public-ca-1", "public-root")
    ]
    assert body["key"]["algo"] == [SHA256_ECDSA]
    assert (body["SCAL"], body["authMode"], body["multisign"]) == ("2", "explicit", 100)
    assert body["cert"]["subjectDN"] == mai_key.subject
    assert "CCCD:001190012345" in body["cert"]["subjectDN"]


def test_another_users_credential_is_as_unknown_as_a_made_up_one(csc, binh_key, mai_key):
    theirs = csc("credentials/info", {"credentialID": binh_key.credential_id})
    made_up = csc("credentials/info", {"credentialID": "lt-nothing"})
    assert refusal(theirs, 400, "unknown_credential") == refusal(made_up, 400, "unknown_credential")


def test_malformed_bodies_get_csc_errors(csc, mai_key):
    refusal(csc("credentials/info", {}), 400, "missing_parameter")
    bad = csc.client.post(
        "/csc/v2/credentials/info",
        data="{",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {csc.token}",
    )
    refusal(bad, 400, "malformed_request")


# --- authorize and signHash -----------------------------------------------------


def test_authorised_hashes_are_signed_with_the_credentials_key(csc, mai, mai_key, mai_totp, clock):
    hashes = [digest("giấy khai sinh"), digest("tờ khai")]
    response = csc.authorize(mai_key, hashes, next_code(mai_totp, clock))
    assert response.json()["expiresIn"] == 300
    sad = response.json()["SAD"]

    signed = csc.sign(mai_key, sad, hashes)

    assert signed.status_code == 200, signed.json()
    signatures = [base64.b64decode(s) for s in signed.json()["signatures"]]
    assert [
        keys.verify_ecdsa(bytes(mai_key.public_key), s, h)
        for s, h in zip(signatures, hashes, strict=True)
    ] == [True, True]
    record = AuditRecord.objects.filter(action="signature_created").get()
    assert record.changes["hashes"] == [h.hex() for h in hashes]
    assert record.actor == mai
    assert AuditRecord.objects.filter(action="signing_authorized").count() == 1


def test_a_sad_is_stored_only_as_its_hash(csc, mai_key, mai_totp, clock):
    sad = authorized(csc, mai_key, mai_totp, clock, [digest("a")])
    row = SignatureAuthorization.objects.get()
    assert sad not in row.sad_hash
    assert row.hashes == [b64(digest("a"))]


def test_a_subset_of_the_authorised_hashes_may_be_signed(csc, mai_key, mai_totp, clock):
    sad = authorized(csc, mai_key, mai_totp, clock, [digest("a"), digest("b")])
    assert csc.sign(mai_key, sad, [digest("b")]).status_code == 200


def test_a_sad_signs_once(csc, mai_key, mai_totp, clock):
    sad = authorized(csc, mai_key, mai_totp, clock, [digest("a")])
    assert csc.sign(mai_key, sad, [digest("a")]).status_code == 200
    refusal(csc.sign(mai_key, sad, [digest("a")]), 400, "sad_used")


def test_a_sad_expires_after_five_minutes(csc, mai_key, mai_totp, clock):
    sad = authorized(csc, mai_key, mai_totp, clock, [digest("a")])
    clock.shift(300)
    refusal(csc.sign(mai_key, sad, [digest("a")]), 400, "sad_expired")


def test_hashes_the_sad_does_not_cover_are_refused_and_spend_it(csc, mai_key, mai_totp, clock):
    sad = authorized(csc, mai_key, mai_totp, clock, [digest("a")])
    refusal(csc.sign(mai_key, sad, [digest("a"), digest("forged")]), 400, "hash_not_authorized")
    refusal(csc.sign(mai_key, sad, [digest("a")]), 400, "sad_used")


def test_a_tampered_sad_is_unknown(csc, mai_key, mai_totp, clock):
    sad = authorized(csc, mai_key, mai_totp, clock, [digest("a")])
    tampered = sad[:-1] + ("A" if sad[-1] != "A" else "B")
    refusal(csc.sign(mai_key, tampered, [digest("a")]), 400, "invalid_sad")
    assert csc.sign(mai_key, sad, [digest("a")]).status_code == 200


def test_a_sad_signs_only_with_its_credential(csc, mai, mai_key, mai_totp, clock, trusted_test_pki):
    from lienthong.signing.tests.conftest import certified

    other_key = certified(mai, trusted_test_pki, label="Khóa thứ hai")
    sad = authorized(csc, mai_key, mai_totp, clock, [digest("a")])
    refusal(csc.sign(other_key, sad, [digest("a")]), 400, "sad_credential_mismatch")


def test_another_user_can_use_neither_the_credential_nor_the_sad(
    client, csc, mai_key, mai_totp, clock, binh_key, binh_token
):
    sad = authorized(csc, mai_key, mai_totp, clock, [digest("a")])
    binh = Csc(client, binh_token)
    refusal(binh.sign(mai_key, sad, [digest("a")]), 400, "unknown_credential")
    refusal(binh.sign(binh_key, sad, [digest("a")]), 400, "invalid_sad")
    refusal(binh.authorize(mai_key, [digest("a")], "123456"), 400, "unknown_credential")
    # Mai's SAD is still hers to use.
    assert csc.sign(mai_key, sad, [digest("a")]).status_code == 200


def test_only_ecdsa_with_sha256_is_signed(csc, mai_key, mai_totp, clock):
    sad = authorized(csc, mai_key, mai_totp, clock, [digest("a")])
    refusal(
        csc.sign(mai_key, sad, [digest("a")], signAlgo="1.2.840.113549.1.1.11"),
        400,
        "unsupported_algorithm",
    )
    assert csc.sign(mai_key, sad, [digest("a")]).status_code == 200


def test_refusals_are_audited_with_hash_values(csc, mai_key, mai_totp, clock):
    sad = authorized(csc, mai_key, mai_totp, clock, [digest("a")])
    csc.sign(mai_key, sad, [digest("b")])
    record = AuditRecord.objects.get(action="sign_refused")
    assert record.changes["refused"] == "hash_not_authorized"
    assert record.changes["hashes"] == [digest("b").hex()]
    assert record.object_id == str(mai_key.pk)


# --- The second factor ---------------------------------------------------------------


def test_authorising_needs_a_code(csc, mai_key, mai_totp):
    refusal(
        csc(
            "credentials/authorize",
            {"credentialID": mai_key.credential_id, "numSignatures": 1, "hash": [b64(digest("a"))]},
        ),
        400,
        "authorization_required",
    )


def test_a_wrong_code_is_refused_and_audited(csc, mai, mai_key, mai_totp, clock):
    clock.shift(30)
    wrong = f"{(int(mai_totp.now()) + 1) % 10**6:06d}"
    refusal(csc.authorize(mai_key, [digest("a")], wrong), 400, "invalid_otp")
    assert AuditRecord.objects.filter(action="authorize_refused").get().changes["refused"] == (
        "invalid_otp"
    )
    assert AuditRecord.objects.filter(action="factor_failed").count() == 1


def test_a_code_is_accepted_once(csc, mai_key, mai_totp, clock):
    code = next_code(mai_totp, clock)
    assert csc.authorize(mai_key, [digest("a")], code).status_code == 200
    refusal(csc.authorize(mai_key, [digest("b")], code), 400, "invalid_otp")


def test_guessing_codes_locks_the_factor_even_for_the_right_code(csc, mai_key, mai_totp, clock):
    clock.shift(30)
    right = mai_totp.now()
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for _ in range(5):
        refusal(csc.authorize(mai_key, [digest("a")], wrong), 400, "invalid_otp")
    refusal(csc.authorize(mai_key, [digest("a")], right), 429, "locked", "access_denied")


def test_authorisations_are_rate_limited(csc, mai_key, mai_totp, clock, settings):
    settings.SIGNING_AUTHORIZE_PER_MINUTE = 2
    # Every attempt counts, a wrong code too, in one window shared by all processes.
    refusal(csc.authorize(mai_key, [digest("a")], "000000"), 400, "invalid_otp")
    refusal(csc.authorize(mai_key, [digest("b")], "000000"), 400, "invalid_otp")
    response = csc.authorize(mai_key, [digest("c")], "000000")
    refusal(response, 429, "rate_limited", "access_denied")
    # The window closes a minute after its first attempt.
    clock.shift(31)
    authorized(csc, mai_key, mai_totp, clock, [digest("c")])


def test_num_signatures_must_match_the_hashes(csc, mai_key, mai_totp, clock):
    response = csc.authorize(mai_key, [digest("a")], next_code(mai_totp, clock), numSignatures=2)
    refusal(response, 400, "num_signatures_mismatch")


def test_hashes_must_be_base64_sha256_values(csc, mai_key, mai_totp, clock):
    body = {"credentialID": mai_key.credential_id, "numSignatures": 1, "OTP": "000000"}
    refusal(csc("credentials/authorize", {**body, "hash": ["%%%"]}), 400, "invalid_hash")
    refusal(csc("credentials/authorize", {**body, "hash": [b64(b"short")]}), 400, "invalid_hash")
    refusal(csc("credentials/authorize", body), 400, "missing_parameter")


def sms_code() -> str:
    from lienthong.identity import sms

    return re.search(r"\b\d{6}\b", sms.MemoryGateway.outbox[-1].text).group()


def test_an_sms_code_authorises_too(
    client, mai, mai_key, clock, django_capture_on_commit_callbacks
):
    from lienthong.identity import factors

    with django_capture_on_commit_callbacks(execute=True):
        factors.send_sms_code(user=mai, phone="0912345678")
    assert factors.enable_sms(user=mai, code=sms_code(), source="test")
    raw, _token = tokens.issue_access_token(user=mai, client_name="x", source="test")
    csc = Csc(client, raw)
    clock.shift(61)
    with django_capture_on_commit_callbacks(execute=True):
        sent = csc("credentials/sendOTP", {"credentialID": mai_key.credential_id})
    assert sent.status_code == 200
    response = csc.authorize(mai_key, [digest("a")], sms_code(), OTPMethod="sms")
    assert response.status_code == 200, response.json()
    assert SignatureAuthorization.objects.get().method == "sms"


def test_a_disabled_credential_cannot_be_authorised(csc, mai_key, mai_totp, clock):
    signing.set_enabled(actor="test", credential=mai_key, enabled=False, source="test")
    response = csc.authorize(mai_key, [digest("a")], next_code(mai_totp, clock))
    refusal(response, 400, "credential_not_usable")


def test_an_approval_on_the_phone_authorises_instead_of_a_code(csc, mai, mai_key, clock):
    from lienthong.signing.tests.test_pdf import approved

    hashes = [digest("quyết định")]
    approval = approved(mai, [b64(h) for h in hashes])
    response = csc(
        "credentials/authorize",
        {
            "credentialID": mai_key.credential_id,
            "numSignatures": 1,
            "hash": [b64(h) for h in hashes],
            "approvalID": str(approval.pk),
        },
    )
    assert response.status_code == 200, response.json()
    assert csc.sign(mai_key, response.json()["SAD"], hashes).status_code == 200
    again = csc(
        "credentials/authorize",
        {
            "credentialID": mai_key.credential_id,
            "numSignatures": 1,
            "hash": [b64(h) for h in hashes],
            "approvalID": str(approval.pk),
        },
    )
    refusal(again, 400, "approval_consumed", "access_denied")


def test_the_csc_v2_names_of_the_hashes_are_read_as_v1_names_are(csc, mai_key, mai_totp, clock):
    """CSC v2 calls them ``hashes`` and ``hashAlgorithmOID``; v1 (pyHanko's client)
    ``hash`` and ``hashAlgo``. Both authorise and sign the same way."""
    code = next_code(mai_totp, clock)
    authorized_v2 = csc(
        "credentials/authorize",
        {"credentialID": mai_key.credential_id, "numSignatures": 1,
         "hashes": [b64(digest("a"))], "OTP": code},
    )  # fmt: skip
    assert authorized_v2.status_code == 200, authorized_v2.content
    signed = csc(
        "signatures/signHash",
        {"credentialID": mai_key.credential_id, "SAD": authorized_v2.json()["SAD"],
         "hashes": [b64(digest("a"))], "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
         "signAlgo": "1.2.840.10045.4.3.2"},
    )  # fmt: skip
    assert signed.status_code == 200, signed.content
    assert len(signed.json()["signatures"]) == 1
    refusal(
        csc("credentials/authorize", {"credentialID": mai_key.credential_id,
                                      "numSignatures": 1, "hashes": ["%%%"]}),
        400,
        "invalid_hash",
    )  # fmt: skip
