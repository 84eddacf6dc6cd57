"""The validation matrix: both hierarchies, every format, every case the issue names.

Each test below is one case (one row); its parameters are the cells: the
public hierarchy (citizen and business, under NEAC-like CAs) and the
government one (agency and officer, under the Ban Cơ yếu-like CA), each in
PAdES, XAdES, CAdES and JWS. Every cell asserts the exact ETSI EN 319 102-1
indication and sub-indication the report gives, and the reason codes a person
reads.

Persona documents are signed once: by the session's TEST PKI for the cases
that do not revoke, by one PKI of this module's own for both revocation cases
(documents signed, then the personas revoked, then signed again). Signers the
keystore would refuse (expired, RSA 1024, SHA-1) are made on the spot with
certs.py under the TEST PKI's own CAs, so they belong to a hierarchy too.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from lienthong.testing.pki import free_loopback_port
from lienthong.trust import testpki
from lienthong.trust.models import TrustedCertificate
from lienthong.trust.tests import certs
from lienthong.trust.tests.signatures import (
    FORMATS,
    Signed,
    Signer,
    rolled_back,
    sign_any,
    sign_as,
    tampered,
    wait_for_next_second,
    with_revocation_pointers,
)
from lienthong.trust.validation import jws
from lienthong.trust.validation.engine import Policy
from lienthong.trust.validation.report import Indication, SignatureResult
from lienthong.trust.validation.service import validate_document

pytestmark = pytest.mark.django_db

HIERARCHIES = ("public", "government")
# Who signs each cell: both key types (ECDSA P-256 and RSA 2048) and all four personas.
SIGNERS = {
    ("public", "PAdES"): "citizen",
    ("public", "XAdES"): "business",
    ("public", "CAdES"): "business",
    ("public", "JWS"): "citizen",
    ("government", "PAdES"): "agency",
    ("government", "XAdES"): "officer",
    ("government", "CAdES"): "officer",
    ("government", "JWS"): "agency",
}
PERSONAS = sorted(set(SIGNERS.values()))
ISSUING_CA = {"public": "public-ca-1", "government": "government-ca"}
ROOT_NAME = {
    "public": "TEST Public Root CA (NEAC-like)",
    "government": "TEST Government Root CA (Ban Cơ yếu-like)",
}
OTHER = {"public": "government", "government": "public"}
# The platform signs PAdES B-T and CAdES with a signature timestamp; its XAdES
# (B-B) and its JWS envelopes carry none.
TIMESTAMPED = {"PAdES", "CAdES"}
NOW = dt.datetime.now(dt.UTC)


def cells(formats=FORMATS):
    return [pytest.param(h, f, id=f"{h}-{f}") for h in HIERARCHIES for f in formats]


def validate(signed: Signed, policy: Policy | None = None) -> SignatureResult:
    """The one signature of ``signed``, validated as the node would (explicit policy)."""
    # The JWS validator caches chain outcomes per trust-list version, re-read
    # every 2 s: each cell starts from what its own trust list says.
    jws.clear_caches()
    report = validate_document(**signed.kwargs(), policy=policy or Policy())
    (signature,) = report.signatures
    assert signature.format == format_of(signed)
    assert (report.indication, report.sub_indication) == (
        signature.indication,
        signature.sub_indication,
    )
    return signature


def format_of(signed: Signed) -> str:
    return {".pdf": "PAdES", ".xml": "XAdES", ".p7s": "CAdES", ".jws": "JWS"}[
        signed.filename[signed.filename.rindex(".") :]
    ]


def verdict(signature: SignatureResult) -> tuple[str, str | None, list[str]]:
    return signature.indication, signature.sub_indication, [r.code for r in signature.reasons]


# --- Documents ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def persona_documents(test_pki, django_db_setup, django_db_blocker) -> dict:
    """Every cell's document, signed by its persona of the shared TEST PKI."""
    with rolled_back(django_db_blocker):
        return sign_every_cell(test_pki)


def sign_every_cell(pki) -> dict[tuple[str, str], Signed]:
    return {(h, fmt): sign_as(fmt, pki, label) for (h, fmt), label in SIGNERS.items()}


@pytest.fixture(scope="module")
def revocation(test_pki_factory, django_db_setup, django_db_blocker) -> SimpleNamespace:
    """A PKI of its own: every cell signed, the personas revoked, every cell signed again."""
    pki = test_pki_factory()
    with rolled_back(django_db_blocker):
        before = sign_every_cell(pki)
        wait_for_next_second()  # revocation times are whole seconds
        revoked_at = {
            label: testpki.revoke(directory=pki.directory, label=label, actor="test")
            for label in PERSONAS
        }
        after = sign_every_cell(pki)
    return SimpleNamespace(
        pki=pki, signed_then_revoked=before, revoked_then_signed=after, revoked_at=revoked_at
    )


@pytest.fixture(scope="module")
def revoked_ca(test_pki_factory, django_db_setup, django_db_blocker) -> SimpleNamespace:
    """A PKI of its own: the CAs of the business (public) and government personas
    revoked, then every cell signed by one of those (the TSA, under public-ca-1,
    stays good)."""
    pki = test_pki_factory()
    with rolled_back(django_db_blocker):
        for label in ("public-ca-2", "government-ca"):
            testpki.revoke(directory=pki.directory, label=label, actor="test")
        signed = {
            (h, fmt): sign_as(fmt, pki, "business" if h == "public" else label)
            for (h, fmt), label in SIGNERS.items()
        }
    return SimpleNamespace(pki=pki, signed=signed)


@pytest.fixture
def trusted(db, test_pki):
    testpki.add_to_trust_list(test_pki, actor="test")
    return test_pki


def issued_under(pki, hierarchy: str, common_name: str, **options) -> Signer:
    """A signer made now with certs.py, under the hierarchy's issuing CA."""
    ca = Signer.from_pki(pki, ISSUING_CA[hierarchy])
    leaf = certs.issue(common_name, issuer=ca.as_issuer(), ca=False, **options)
    return Signer.from_issued(leaf, *ca.everything)


# --- The cases ----------------------------------------------------------------------


@pytest.mark.parametrize(("hierarchy", "fmt"), cells())
def test_valid(trusted, persona_documents, hierarchy, fmt):
    signature = validate(persona_documents[hierarchy, fmt])

    assert verdict(signature) == (Indication.TOTAL_PASSED, None, [])
    assert signature.hierarchy == hierarchy
    assert (
        signature.signer.fingerprint_sha256
        == trusted.certificate(SIGNERS[hierarchy, fmt]).sha256.hex()
    )
    assert [c.common_name for c in signature.chain][-1] == ROOT_NAME[hierarchy]
    assert signature.revocation["status"] == "good"
    if fmt in TIMESTAMPED:
        assert signature.timestamp["valid"] is True
        assert signature.best_signature_time == signature.timestamp["time"]
    else:
        assert signature.timestamp is None
        assert signature.best_signature_time is None


@pytest.mark.parametrize(("hierarchy", "fmt"), cells())
def test_via_the_cross_certificate(trusted, persona_documents, hierarchy, fmt):
    """The signer's own root is off the trust list: the path runs through the
    other root's cross-certificate, and the signer keeps its own hierarchy.
    Revocation is *required*, so the cross-certificate's own status is checked too."""
    TrustedCertificate.objects.filter(kind="root", hierarchy=hierarchy).update(is_enabled=False)

    signature = validate(persona_documents[hierarchy, fmt], Policy(revocation_mode="require"))

    assert verdict(signature) == (Indication.TOTAL_PASSED, None, [])
    assert signature.hierarchy == hierarchy
    root, cross = signature.chain[-1], signature.chain[-2]
    assert root.common_name == ROOT_NAME[OTHER[hierarchy]]
    assert cross.common_name == ROOT_NAME[hierarchy]  # the own root's key …
    assert cross.issuer == root.subject  # … certified by the other root
    assert signature.revocation["status"] == "good"


@pytest.mark.parametrize(("hierarchy", "fmt"), cells())
def test_revoked_before_signing(db, revocation, hierarchy, fmt):
    """Revoked, then signed: TOTAL-FAILED/REVOKED, whether or not a timestamp
    dates the signature (it would only date it after the revocation).

    The platform's verdict, stricter than ETSI EN 319 102-1 read to the letter:
    there REVOKED needs proof the signature was made after the revocation (a
    content timestamp), and without it the answer is INDETERMINATE/
    REVOKED_NO_POE, which is also what pyHanko's AdES processes give.
    """
    testpki.add_to_trust_list(revocation.pki, actor="test")

    signature = validate(revocation.revoked_then_signed[hierarchy, fmt])

    assert verdict(signature) == (Indication.TOTAL_FAILED, "REVOKED", [])
    revoked_at = revocation.revoked_at[SIGNERS[hierarchy, fmt]]
    assert signature.revocation["status"] == "revoked"
    assert dt.datetime.fromisoformat(signature.revocation["revoked_at"]) == revoked_at
    assert signature.revocation["reason"] == "key_compromise"
    if fmt in TIMESTAMPED:
        assert dt.datetime.fromisoformat(signature.best_signature_time) >= revoked_at


@pytest.mark.parametrize(("hierarchy", "fmt"), cells(sorted(TIMESTAMPED)))
def test_revoked_after_a_timestamped_signature(db, revocation, hierarchy, fmt):
    testpki.add_to_trust_list(revocation.pki, actor="test")

    signature = validate(revocation.signed_then_revoked[hierarchy, fmt])

    # The report shows the timestamp and when the revocation came.
    revoked_at = revocation.revoked_at[SIGNERS[hierarchy, fmt]]
    assert signature.timestamp["valid"] is True
    assert dt.datetime.fromisoformat(signature.best_signature_time) < revoked_at
    assert signature.revocation["status"] == "revoked"
    assert dt.datetime.fromisoformat(signature.revocation["revoked_at"]) == revoked_at
    # ETSI EN 319 102-1 § 5.5.4: the trusted timestamp before the revocation
    # proves the signature existed while the certificate was good.
    assert verdict(signature) == (Indication.TOTAL_PASSED, None, [])


@pytest.mark.parametrize(("hierarchy", "fmt"), cells(sorted(set(FORMATS) - TIMESTAMPED)))
def test_revoked_after_a_signature_nothing_dates(db, revocation, hierarchy, fmt):
    """XAdES B-B and JWS carry no timestamp: nothing shows the signature predates
    the revocation, so signed-then-revoked reads exactly as revoked-then-signed."""
    testpki.add_to_trust_list(revocation.pki, actor="test")

    signature = validate(revocation.signed_then_revoked[hierarchy, fmt])

    assert verdict(signature) == (Indication.TOTAL_FAILED, "REVOKED", [])
    assert signature.revocation["status"] == "revoked"
    assert signature.best_signature_time is None


@pytest.mark.parametrize(("hierarchy", "fmt"), cells())
def test_issuing_ca_revoked(db, revoked_ca, hierarchy, fmt):
    """ETSI EN 319 102-1: a CA certificate of the path is revoked and nothing
    proves the signature predates it → INDETERMINATE/REVOKED_CA_NO_POE."""
    testpki.add_to_trust_list(revoked_ca.pki, actor="test")

    signature = validate(revoked_ca.signed[hierarchy, fmt])

    assert (signature.indication, signature.sub_indication) == (
        Indication.INDETERMINATE,
        "REVOKED_CA_NO_POE",
    )
    assert signature.revocation["status"] == "revoked"
    assert signature.revocation["ca_revoked"] is True


@pytest.mark.parametrize(("hierarchy", "fmt"), cells())
def test_expired(trusted, hierarchy, fmt):
    signer = issued_under(
        trusted, hierarchy, "TEST Expired Signer", valid_from=NOW - dt.timedelta(days=400), days=30
    )

    signature = validate(sign_any(fmt, signer))

    assert verdict(signature) == (Indication.INDETERMINATE, "OUT_OF_BOUNDS_NO_POE", [])
    assert signature.signer.common_name == "TEST Expired Signer"


@pytest.mark.parametrize(("hierarchy", "fmt"), cells())
def test_not_yet_valid(trusted, hierarchy, fmt):
    """ETSI EN 319 102-1: the best signature time (the timestamp's, else now) lies
    before the signer's certificate became valid, in every format alike."""
    signer = issued_under(
        trusted, hierarchy, "TEST Future Signer", valid_from=NOW + dt.timedelta(days=10), days=30
    )

    signature = validate(sign_any(fmt, signer))

    assert (signature.indication, signature.sub_indication) == (
        Indication.TOTAL_FAILED,
        "NOT_YET_VALID",
    )
    assert signature.signer.common_name == "TEST Future Signer"


@pytest.mark.parametrize(("hierarchy", "fmt"), cells())
def test_unknown_root(db, persona_documents, hierarchy, fmt):
    """Nothing on the trust list. A timestamp (PAdES, CAdES) is just as untrusted."""
    assert not TrustedCertificate.objects.exists()

    signature = validate(persona_documents[hierarchy, fmt])

    reasons = ["timestamp_invalid", "untrusted_root"] if fmt in TIMESTAMPED else ["untrusted_root"]
    assert verdict(signature) == (Indication.INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND", reasons)
    assert signature.hierarchy is None
    assert signature.revocation["status"] == "not_checked"


# A changed document fails the hash of what was signed; a JWS has no such hash
# (its signature is over the payload itself), so the signature value fails.
TAMPERED = {
    "PAdES": (Indication.TOTAL_FAILED, "HASH_FAILURE", []),
    "CAdES": (Indication.TOTAL_FAILED, "HASH_FAILURE", []),
    "XAdES": (Indication.TOTAL_FAILED, "HASH_FAILURE", ["xml_reference_mismatch"]),
    "JWS": (Indication.TOTAL_FAILED, "SIG_CRYPTO_FAILURE", ["jws_payload_mismatch"]),
}


@pytest.mark.parametrize(("hierarchy", "fmt"), cells())
def test_tampered(trusted, persona_documents, hierarchy, fmt):
    signature = validate(tampered(fmt, persona_documents[hierarchy, fmt]))

    assert verdict(signature) == TAMPERED[fmt]


@pytest.mark.parametrize(("hierarchy", "fmt"), cells(("PAdES", "XAdES", "CAdES")))
def test_weak_digest_sha1(trusted, hierarchy, fmt):
    """A strong RSA 2048 key that signed a SHA-1 digest. (JOSE has no SHA-1 algorithm.)"""
    signer = issued_under(trusted, hierarchy, "TEST SHA-1 Signer", key="rsa2048")

    signature = validate(sign_any(fmt, signer, digest="sha1"))

    assert verdict(signature) == (
        Indication.INDETERMINATE,
        "CRYPTO_CONSTRAINTS_FAILURE",
        ["weak_digest"],
    )


@pytest.mark.filterwarnings("ignore:Key size should be >= 2048 bits")
@pytest.mark.parametrize(("hierarchy", "fmt"), cells())
def test_weak_key_rsa_1024(trusted, hierarchy, fmt):
    signer = issued_under(trusted, hierarchy, "TEST RSA 1024 Signer", key="rsa1024")

    signature = validate(sign_any(fmt, signer))

    assert verdict(signature) == (
        Indication.INDETERMINATE,
        "CRYPTO_CONSTRAINTS_FAILURE",
        ["weak_key"],
    )
    assert signature.reasons[0].detail == "RSA 1024"


@pytest.fixture(scope="module")
def unreachable_revocation(test_pki) -> dict:
    """Per cell, a document by a signer whose OCSP responder and CRL are on a closed port."""
    base_url = f"http://127.0.0.1:{free_loopback_port()}"
    documents = {}
    for hierarchy in HIERARCHIES:
        ca = Signer.from_pki(test_pki, ISSUING_CA[hierarchy])
        signer = with_revocation_pointers("TEST Unreachable CA Signer", ca, base_url)
        for fmt in FORMATS:
            documents[hierarchy, fmt] = sign_any(fmt, signer)
    return documents


@pytest.mark.parametrize(("hierarchy", "fmt"), cells())
def test_missing_revocation_data_soft_fail_passes(trusted, unreachable_revocation, hierarchy, fmt):
    signature = validate(
        unreachable_revocation[hierarchy, fmt], Policy(revocation_mode="soft-fail")
    )

    assert verdict(signature) == (Indication.TOTAL_PASSED, None, [])
    assert signature.hierarchy == hierarchy
    # Passed, but the report does not pretend the certificate was checked.
    assert signature.revocation == {"status": "not_available"}


@pytest.mark.parametrize("mode", ["hard-fail", "require"])
@pytest.mark.parametrize(("hierarchy", "fmt"), cells())
def test_missing_revocation_data_hard_fail_and_require_are_try_later(
    trusted, unreachable_revocation, hierarchy, fmt, mode
):
    signature = validate(unreachable_revocation[hierarchy, fmt], Policy(revocation_mode=mode))

    assert verdict(signature) == (Indication.INDETERMINATE, "TRY_LATER", ["revocation_unknown"])
    assert signature.revocation["status"] == "unknown"
