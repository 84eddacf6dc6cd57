"""Validating JWS envelopes (the exchange's signature): format, algorithm, signature,
canonical JSON, chain to either root, revocation — and the cache that makes it fast."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
import rfc8785
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jws as jose_jws
from joserfc.jwk import OctKey

from lienthong.trust import keystore, services, signing, testpki
from lienthong.trust.models import SigningKey, TrustedCertificate, ValidationRecord
from lienthong.trust.validation import engine, jws
from lienthong.trust.validation.engine import Policy
from lienthong.trust.validation.report import Indication, SignatureResult
from lienthong.trust.validation.service import validate_document

pytestmark = pytest.mark.django_db

ENVELOPE = {
    "id": "01890a5d-ac96-774b-bcce-b302099a8057",
    "type": "dossier.handoff",
    "sender": "VN:GOV:000.00.00.G12:node",
    "recipient": "VN:GOV:000.00.00.H26:node",
    "correlation_id": "000.00.00.G12-260101-0001",
    "created_at": "2026-01-01T08:00:00+07:00",
    "attachments": [{"sha256": "ab" * 32, "name": "tờ khai.pdf"}],
    "payload": {"chu_ho_so": "Nguyễn Văn An", "so_trang": 3, "phi": 1.5},
}
HARD_FAIL = Policy(revocation_mode="hard-fail", allow_fetching=True, timeout_seconds=30)


@pytest.fixture(autouse=True)
def fresh_caches():
    """Each test starts from cold caches: its trust list is its own (rolled back after)."""
    jws.clear_caches()
    yield
    jws.clear_caches()


def key_of(pki, label: str):
    known = SigningKey.objects.filter(
        fingerprint_sha256=pki.certificate(label).sha256.hex()
    ).first()
    if known is not None:
        return known
    return keystore.import_pkcs12(
        actor="test",
        data=pki.p12_path(label).read_bytes(),
        passphrase=pki.p12_passphrase(label),
        name=f"TEST {label}",
        source="test",
    )


def envelope(pki, label: str, payload: dict | None = None) -> str:
    return signing.sign_jws(actor="test", key=key_of(pki, label), payload=payload or ENVELOPE)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def segments(token: str) -> tuple[dict, str, str, str]:
    head, payload, signature = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return header, head, payload, signature


def x5c(pki, label: str) -> list[str]:
    return [
        base64.b64encode(c.dump()).decode("ascii")
        for c in [pki.certificate(label), *pki.chain(label)]
    ]


def hand_signed(pki, label: str, header: dict, payload: bytes) -> str:
    """An RS256 JWS signed directly with the label's RSA key, with whatever header we like."""
    key = serialization.load_pem_private_key(pki.key_path(label).read_bytes(), password=None)
    signing_input = f"{b64url(json.dumps({'alg': 'RS256', **header}).encode())}.{b64url(payload)}"
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def sub(result: SignatureResult) -> tuple[str, str | None, list[str]]:
    return result.indication, result.sub_indication, [r.code for r in result.reasons]


# --- Envelopes of both hierarchies -------------------------------------------------------------


def test_an_agency_envelope_passes_in_the_government_hierarchy(trusted_test_pki):
    result = jws.verify_jws(envelope(trusted_test_pki, "agency"))
    assert sub(result) == (Indication.TOTAL_PASSED, None, [])
    assert (result.format, result.hierarchy) == ("JWS", "government")
    assert "000.00.00.G12" in result.signer.identifiers
    assert (result.signature_algorithm, result.digest_algorithm) == ("RS256", "sha256")
    assert result.chain[0].fingerprint_sha256 == trusted_test_pki.certificate("agency").sha256.hex()
    assert result.chain[-1].common_name.startswith("TEST Government Root")
    assert result.revocation == {"status": "good"}
    assert (result.coverage, result.modified_after_signing) == ("entire_document", False)


def test_a_business_envelope_passes_in_the_public_hierarchy(trusted_test_pki):
    result = jws.verify_jws(envelope(trusted_test_pki, "business").encode("ascii"))
    assert sub(result) == (Indication.TOTAL_PASSED, None, [])
    assert (result.hierarchy, result.signature_algorithm) == ("public", "ES256")
    assert "MST:0100000001" in result.signer.identifiers


def test_an_agency_is_still_trusted_through_the_cross_certificate(trusted_test_pki):
    root = TrustedCertificate.objects.get(
        fingerprint_sha256=trusted_test_pki.certificate("government-root").sha256.hex()
    )
    services.set_enabled(actor="test", trusted=root, enabled=False, source="test")
    result = jws.verify_jws(envelope(trusted_test_pki, "agency"))
    assert sub(result) == (Indication.TOTAL_PASSED, None, [])
    assert result.hierarchy == "government"  # its CA's, not the public root's it reached
    assert result.chain[-1].common_name.startswith("TEST Public Root")


def test_the_flattened_and_general_json_serialisations_are_read_too(trusted_test_pki):
    _, head, payload, signature = segments(envelope(trusted_test_pki, "officer"))
    flattened = {"protected": head, "payload": payload, "signature": signature}
    general = {"payload": payload, "signatures": [{"protected": head, "signature": signature}]}
    for document in (flattened, general):
        result = jws.verify_jws(json.dumps(document, indent=2))
        assert sub(result) == (Indication.TOTAL_PASSED, None, [])
    several = {**general, "signatures": general["signatures"] * 2}
    assert sub(jws.verify_jws(json.dumps(several)))[1] == "FORMAT_FAILURE"


def test_an_unprotected_header_is_not_believed(trusted_test_pki):
    _, head, payload, signature = segments(envelope(trusted_test_pki, "agency"))
    flattened = {
        "protected": head,
        "header": {"x5c": x5c(trusted_test_pki, "business"), "alg": "none"},
        "payload": payload,
        "signature": signature,
    }
    result = jws.verify_jws(json.dumps(flattened))
    assert result.indication == Indication.TOTAL_PASSED
    assert "000.00.00.G12" in result.signer.identifiers


# --- What is refused ------------------------------------------------------------------------------


def test_a_changed_payload_is_a_signature_failure(trusted_test_pki):
    _, head, _, signature = segments(envelope(trusted_test_pki, "agency"))
    forged = rfc8785.dumps({**ENVELOPE, "recipient": "VN:GOV:000.00.00.H99:node"})
    result = jws.verify_jws(f"{head}.{b64url(forged)}.{signature}")
    assert sub(result) == (Indication.TOTAL_FAILED, "SIG_CRYPTO_FAILURE", ["jws_payload_mismatch"])
    assert "000.00.00.G12" in result.signer.identifiers


def test_a_changed_signature_fails(trusted_test_pki):
    _, head, payload, signature = segments(envelope(trusted_test_pki, "business"))
    flipped = ("A" if signature[5] != "A" else "B").join((signature[:5], signature[6:]))
    assert sub(jws.verify_jws(f"{head}.{payload}.{flipped}"))[1] == "SIG_CRYPTO_FAILURE"


@pytest.mark.parametrize("alg", ["none", "HS256", "PS256", "EdDSA", "RS1", None, 256])
def test_algorithms_outside_the_list_are_refused(trusted_test_pki, alg):
    header = {"alg": alg, "x5c": x5c(trusted_test_pki, "agency")}
    if alg == "HS256":
        registry = signing.jws_registry(["HS256"])
        secret = OctKey.import_key(b"k" * 32)
        token = jose_jws.serialize_compact(
            header, rfc8785.dumps(ENVELOPE), secret, registry=registry
        )
    else:
        token = f"{b64url(json.dumps(header).encode())}.{b64url(rfc8785.dumps(ENVELOPE))}.c2ln"
    result = jws.verify_jws(token)
    assert sub(result) == (Indication.TOTAL_FAILED, "FORMAT_FAILURE", ["jws_algorithm"])
    assert "RS256, ES256, ES384, ES512" in result.reasons[0].detail


def test_an_algorithm_that_does_not_fit_the_certificate_key_is_refused(trusted_test_pki):
    # The agency's RSA key signs, but the header claims ECDSA and carries the agency's chain.
    token = hand_signed(
        trusted_test_pki,
        "agency",
        {"x5c": x5c(trusted_test_pki, "business")},
        rfc8785.dumps(ENVELOPE),
    )
    result = jws.verify_jws(token)
    assert sub(result) == (Indication.TOTAL_FAILED, "SIG_CRYPTO_FAILURE", ["jws_algorithm"])
    assert "EC 256" in result.reasons[0].detail


def test_a_jws_without_x5c_names_no_signer(trusted_test_pki):
    token = hand_signed(trusted_test_pki, "agency", {"kid": "ministry"}, rfc8785.dumps(ENVELOPE))
    result = jws.verify_jws(token)
    assert sub(result) == (
        Indication.INDETERMINATE,
        "NO_SIGNING_CERTIFICATE_FOUND",
        ["jws_no_certificate"],
    )
    assert result.signer is None


def test_a_thumbprint_of_another_certificate_is_refused(trusted_test_pki):
    other = trusted_test_pki.certificate("business").sha256
    token = hand_signed(
        trusted_test_pki,
        "agency",
        {"x5c": x5c(trusted_test_pki, "agency"), "x5t#S256": b64url(other)},
        rfc8785.dumps(ENVELOPE),
    )
    result = jws.verify_jws(token)
    assert sub(result) == (
        Indication.TOTAL_FAILED,
        "FORMAT_FAILURE",
        ["jws_certificate_mismatch"],
    )


def test_an_unknown_critical_header_is_refused(trusted_test_pki):
    token = hand_signed(
        trusted_test_pki,
        "agency",
        {"x5c": x5c(trusted_test_pki, "agency"), "crit": ["urn:example"], "urn:example": 1},
        rfc8785.dumps(ENVELOPE),
    )
    assert sub(jws.verify_jws(token))[:2] == (Indication.TOTAL_FAILED, "FORMAT_FAILURE")


def test_unknown_header_parameters_are_ignored(trusted_test_pki):
    token = hand_signed(
        trusted_test_pki,
        "agency",
        {"x5c": x5c(trusted_test_pki, "agency"), "typ": "JOSE", "lienthong-hop": 2},
        rfc8785.dumps(ENVELOPE),
    )
    assert jws.verify_jws(token).indication == Indication.TOTAL_PASSED


def test_an_envelope_under_an_unknown_root_is_indeterminate(db, test_pki):
    result = jws.verify_jws(envelope(test_pki, "agency"))
    assert sub(result) == (
        Indication.INDETERMINATE,
        "NO_CERTIFICATE_CHAIN_FOUND",
        ["untrusted_root"],
    )
    assert result.revocation == {"status": "not_checked"}
    assert "000.00.00.G12" in result.signer.identifiers


def test_a_revoked_signer_fails_under_hard_fail(test_pki_factory):
    pki = test_pki_factory()  # a PKI of its own: the shared one is never revoked in
    testpki.add_to_trust_list(pki, actor="test")
    token = envelope(pki, "officer")
    assert jws.verify_jws(token, policy=HARD_FAIL).indication == Indication.TOTAL_PASSED
    testpki.revoke(directory=pki.directory, label="officer", actor="test")

    jws.clear_caches()  # what a node sees once its cached answer has run out
    from lienthong.trust.models import RevocationAnswer

    RevocationAnswer.objects.all().delete()
    result = jws.verify_jws(token, policy=HARD_FAIL)
    assert sub(result) == (Indication.TOTAL_FAILED, "REVOKED", [])
    assert result.revocation["status"] == "revoked"
    assert result.revocation["ca_revoked"] is False
    assert result.revocation["reason"] == "key_compromise"


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        (b'{"b":1,"a":2}', "not in RFC 8785 canonical form"),
        (b'{"a": 1}', "not in RFC 8785 canonical form"),
        (b'{"a":1.0}', "not in RFC 8785 canonical form"),
        (b'{"a":1,"a":1}', "not in RFC 8785 canonical form"),
        (b'{"a":"\\u0041"}', "not in RFC 8785 canonical form"),
        (b"[1,2]", "not a JSON object"),
        (b"hello", "not JSON"),
        (b'{"a":NaN}', "not JSON"),
        (b'{"a":12345678901234567890}', "not in RFC 8785 canonical form"),
        (b'{"a":"\\ud800"}', "no canonical form"),
        (b"\xff", "not UTF-8"),
    ],
)
def test_a_payload_that_is_not_canonical_json_is_refused(trusted_test_pki, payload, detail):
    token = hand_signed(
        trusted_test_pki, "agency", {"x5c": x5c(trusted_test_pki, "agency")}, payload
    )
    result = jws.verify_jws(token)
    assert sub(result) == (Indication.INDETERMINATE, "FORMAT_FAILURE", ["jws_not_canonical"])
    assert result.reasons[0].detail.startswith(detail)


def test_an_oversized_envelope_is_refused_before_any_work(db):
    huge = "eyJhbGciOiJSUzI1NiJ9." + "A" * jws.MAX_TOKEN_BYTES + ".c2ln"
    result = jws.verify_jws(huge)
    assert sub(result) == (Indication.INDETERMINATE, "GENERIC", ["too_large"])
    big_header = "eyJ" + "A" * (signing.JWS_MAX_HEADER_LENGTH + 1) + ".e30.c2ln"
    assert sub(jws.verify_jws(big_header))[2] == ["too_large"]


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"hello",
        b"a.b",
        b"a.b.c.d",
        b"!!!.###.$$$",
        b"eyJhbGciOiJSUzI1NiJ9.e30.c2ln",  # RS256, but no x5c
        b"e30.e30.c2ln",  # {} as header: no alg
        b"{}",
        b"[]",
        b'{"protected": 1, "signature": "x"}',
        b"{" * 100_000,
        "đây không phải JWS".encode(),
        b'{"protected":"eyJhbGciOiJSUzI1NiIsIng1YyI6WyIhISEiXX0","payload":"e30","signature":"c2ln"}',
        f"{b64url(json.dumps({'alg': 'RS256', 'x5c': ['AAAA']}).encode())}.e30.c2ln".encode(),
    ],
)
def test_garbage_gets_a_failed_result_never_an_exception(db, garbage):
    result = jws.verify_jws(garbage)
    assert isinstance(result, SignatureResult)
    assert result.format == "JWS"
    assert result.indication != Indication.TOTAL_PASSED
    assert "internal_error" not in [r.code for r in result.reasons]


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.one_of(st.binary(max_size=3000), st.text(max_size=3000)))
def test_random_input_never_raises(db, data):
    result = jws.verify_jws(data)
    assert result.indication != Indication.TOTAL_PASSED
    assert "internal_error" not in [r.code for r in result.reasons]


_segment = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=200
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    header=st.dictionaries(
        st.sampled_from(["alg", "x5c", "kid", "x5t#S256", "crit", "b64", "typ", "x5t"]),
        st.one_of(
            st.sampled_from(["RS256", "ES256", "ES512", "none"]),
            st.lists(st.text(max_size=20), max_size=3),
            st.booleans(),
            st.integers(),
        ),
    ),
    payload=_segment,
    signature=_segment,
)
def test_random_headers_never_raise(db, header, payload, signature):
    token = f"{b64url(json.dumps(header).encode())}.{payload}.{signature}"
    result = jws.verify_jws(token)
    assert result.indication != Indication.TOTAL_PASSED
    assert "internal_error" not in [r.code for r in result.reasons]


# --- Canonical JSON: the fast check agrees with RFC 8785 ---------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.text(), _json, max_size=6))
def test_the_canonical_check_agrees_with_rfc8785(value):
    try:
        canonical = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        return
    assert jws.canonical_problem(canonical) is None
    for variant in (
        json.dumps(value, ensure_ascii=False).encode(),
        json.dumps(value, sort_keys=True, separators=(",", ":")).encode(),
    ):
        assert (jws.canonical_problem(variant) is None) == (variant == canonical)


# --- The cache ----------------------------------------------------------------------------------------


@pytest.fixture
def path_validations(monkeypatch):
    """Count how often a certificate path is built and validated."""
    from pyhanko_certvalidator import CertificateValidator

    calls = []
    original = CertificateValidator.async_validate_usage

    async def counted(self, *args, **kwargs):
        calls.append(self)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(CertificateValidator, "async_validate_usage", counted)
    return calls


@pytest.fixture
def clock(monkeypatch):
    """The caches' clock, moved by hand."""
    now = [1000.0]
    monkeypatch.setattr(jws, "_clock", lambda: now[0])
    return now


def test_a_second_envelope_of_the_same_signer_builds_no_path(
    trusted_test_pki, path_validations, clock
):
    first = envelope(trusted_test_pki, "agency")
    second = envelope(trusted_test_pki, "agency", {**ENVELOPE, "id": "another"})
    assert jws.verify_jws(first).indication == Indication.TOTAL_PASSED
    built = len(path_validations)
    assert built >= 1
    again = jws.verify_jws(second)
    assert again.indication == Indication.TOTAL_PASSED
    assert again.hierarchy == "government"
    assert len(path_validations) == built
    assert jws.statistics()["chain_cache_hits"] == 1
    # The cached outcome is not shared mutable state.
    again.chain[0].identifiers.append("changed")
    assert "changed" not in jws.verify_jws(first).chain[0].identifiers
    # Another signer is another entry.
    assert jws.verify_jws(envelope(trusted_test_pki, "business")).hierarchy == "public"
    assert len(path_validations) > built


def test_disabling_the_roots_stops_cached_envelopes_within_seconds(
    trusted_test_pki, path_validations, clock
):
    token = envelope(trusted_test_pki, "agency")
    assert jws.verify_jws(token).indication == Indication.TOTAL_PASSED
    # What another process of the node disabling the roots looks like from here:
    # the rows change, and nothing in this process is told.
    TrustedCertificate.objects.update(is_enabled=False)
    # Until the version is re-read, the cached outcome stands (bounded staleness) ...
    clock[0] += jws.TRUST_LIST_RECHECK_SECONDS / 2
    assert jws.verify_jws(token).indication == Indication.TOTAL_PASSED
    # ... and no longer.
    clock[0] += jws.TRUST_LIST_RECHECK_SECONDS / 2 + 0.1
    result = jws.verify_jws(token)
    assert sub(result) == (
        Indication.INDETERMINATE,
        "NO_CERTIFICATE_CHAIN_FOUND",
        ["untrusted_root"],
    )


def test_disabling_through_the_service_invalidates_at_once_in_this_process(trusted_test_pki, clock):
    token = envelope(trusted_test_pki, "agency")
    assert jws.verify_jws(token).indication == Indication.TOTAL_PASSED
    # As the trust command and the admin do it (an UPDATE, which sends no signal).
    testpki.disable_in_trust_list(trusted_test_pki, actor="test")
    assert jws.verify_jws(token).sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"


def test_a_saved_trust_list_row_invalidates_at_once_in_this_process(trusted_test_pki, clock):
    token = envelope(trusted_test_pki, "agency")
    assert jws.verify_jws(token).indication == Indication.TOTAL_PASSED
    for label in ("government-root", "government-root-cross"):
        row = TrustedCertificate.objects.get(
            fingerprint_sha256=trusted_test_pki.certificate(label).sha256.hex()
        )
        row.is_enabled = False
        row.save()
    assert jws.verify_jws(token).sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"


def test_cached_outcomes_expire_with_their_revocation_answers(
    trusted_test_pki, path_validations, clock
):
    from lienthong.trust.models import RevocationAnswer

    token = envelope(trusted_test_pki, "officer")
    jws.verify_jws(token)
    (outcome,) = jws._outcomes.values()
    remaining = outcome.expires - clock[0]
    assert 0 < remaining <= jws.CHAIN_CACHE_SECONDS
    now = dt.datetime.now(dt.UTC)
    for answer in RevocationAnswer.objects.all():
        assert remaining <= (answer.next_update - now).total_seconds() + 1
    built = len(path_validations)
    clock[0] += remaining + 0.1
    jws.verify_jws(token)
    assert len(path_validations) > built


def test_a_validation_at_another_time_is_not_cached(trusted_test_pki, path_validations):
    token = envelope(trusted_test_pki, "agency")
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    for _ in range(2):
        assert jws.verify_jws(token, at=earlier).indication == Indication.TOTAL_PASSED
    assert jws.statistics() | {"chain_validations": 2, "chain_cache_hits": 0} == jws.statistics()
    before_the_pki = trusted_test_pki.certificate("agency").not_valid_before - dt.timedelta(days=1)
    result = jws.verify_jws(token, at=before_the_pki)
    assert result.indication == Indication.INDETERMINATE


def test_the_policy_is_part_of_the_cache_key(trusted_test_pki, path_validations):
    token = envelope(trusted_test_pki, "agency")
    jws.verify_jws(token)
    built = len(path_validations)
    jws.verify_jws(token, policy=HARD_FAIL)
    assert len(path_validations) > built


def test_a_detached_payload_is_checked_when_given(trusted_test_pki):
    _, head, _, signature = segments(envelope(trusted_test_pki, "agency"))
    detached = f"{head}..{signature}".encode()
    waiting = validate_document(data=detached, filename="x.jws")
    assert waiting.signatures[0].sub_indication == "SIGNED_DATA_NOT_FOUND"
    data = rfc8785.dumps(ENVELOPE)
    report = validate_document(data=detached, filename="x.jws", detached=data)
    assert report.indication == Indication.TOTAL_PASSED
    other = validate_document(data=detached, filename="x.jws", detached=rfc8785.dumps({"a": 1}))
    assert other.signatures[0].sub_indication == "SIG_CRYPTO_FAILURE"


# --- Recognised by content, everywhere the service is used -----------------------------------------


def test_sniff_tells_a_jws_from_other_json(trusted_test_pki):
    token = envelope(trusted_test_pki, "agency")
    _, head, payload, signature = segments(token)
    assert engine.sniff(token.encode() + b"\n") == "jws"
    flattened = {"protected": head, "payload": payload, "signature": signature}
    assert engine.sniff(json.dumps(flattened).encode()) == "jws"
    assert engine.sniff(b'{"protected": "x"}') == "unknown"
    assert engine.sniff(json.dumps(ENVELOPE).encode()) == "unknown"
    assert engine.sniff(b"abc.def.ghi") == "unknown"
    report = validate_document(data=json.dumps(ENVELOPE).encode(), filename="envelope.json")
    assert [r.code for r in report.reasons] == ["unsupported_format"]


def test_the_service_validates_an_envelope_in_process(trusted_test_pki):
    token = envelope(trusted_test_pki, "agency").encode()
    report = validate_document(data=token, filename="envelope.jws")
    assert (report.document_format, report.indication) == ("jws", Indication.TOTAL_PASSED)
    (signature,) = report.signatures
    assert signature.hierarchy == "government"
    broken = validate_document(data=b"eyJhbGciOiJub25lIn0.e30.c2ln", filename="x.jws")
    assert broken.indication == Indication.TOTAL_FAILED
    assert [r.code for r in broken.signatures[0].reasons] == ["jws_algorithm"]
    unreadable = validate_document(data=b'{"protected":"!","signature":"x"}', filename="x.json")
    assert (unreadable.signatures, unreadable.reasons[0].code) == ([], "unreadable")


def test_the_public_page_reports_on_an_uploaded_envelope(client, trusted_test_pki):
    token = envelope(trusted_test_pki, "business").encode()
    response = client.post(
        "/trust/validate/", {"document": SimpleUploadedFile("phong-bi.jws", token)}
    )
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "Chữ ký số hợp lệ" in page
    assert "JWS" in page
    assert "MST:0100000001" in page
    assert ValidationRecord.objects.get().report_data["document_format"] == "jws"


def test_the_api_reports_on_an_uploaded_envelope(client, trusted_test_pki):
    _, head, payload, signature = segments(envelope(trusted_test_pki, "agency"))
    flattened = json.dumps({"protected": head, "payload": payload, "signature": signature})
    response = client.post(
        "/api/v1/signatures/validate",
        {"document": SimpleUploadedFile("envelope.json", flattened.encode())},
    )
    assert response.status_code == 200, response.content
    report = response.json()["report"]
    assert (report["document_format"], report["indication"]) == ("jws", "TOTAL-PASSED")
    assert report["signatures"][0]["format"] == "JWS"


def test_the_validate_command_reports_on_an_envelope(trusted_test_pki, tmp_path, capsys):
    good = tmp_path / "envelope.jws"
    good.write_text(envelope(trusted_test_pki, "agency") + "\n")
    call_command("validate", str(good))
    out = capsys.readouterr().out
    assert out.startswith("Chữ ký số hợp lệ (TOTAL-PASSED)")
    assert "#1 JWS" in out

    _, head, _, signature = segments(envelope(trusted_test_pki, "agency"))
    bad = tmp_path / "forged.jws"
    bad.write_text(f"{head}.{b64url(rfc8785.dumps({'a': 1}))}.{signature}")
    with pytest.raises(SystemExit) as exit_info:
        call_command("validate", str(bad), "--json", "--language", "en")
    assert exit_info.value.code == 1
    report = json.loads(capsys.readouterr().out)
    assert report["signatures"][0]["reasons"][0]["code"] == "jws_payload_mismatch"
