"""The offline verifier's certificate path rules (RFC 5280), on certificates made here."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lienthong.exchange.verify_evidence import _chain_problem

NOW = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)


def usage(**allowed) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")  # fmt: skip
    return x509.KeyUsage(**{name: allowed.get(name, False) for name in names})


def certificate(name, issuer=None, *, ca=False, path_length=None, key_usage=None):
    """(certificate, key); self-signed without ``issuer`` (a (certificate, key) pair)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_cert, issuer_key = issuer if issuer else (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
    )
    if key_usage is not None:
        builder = builder.add_extension(key_usage, critical=True)
    return builder.sign(issuer_key, hashes.SHA256()), key


CA_USAGE = usage(key_cert_sign=True, crl_sign=True)
SIGNING = usage(digital_signature=True)


def test_a_path_within_the_rules_leads_to_its_root():
    root = certificate("Root", ca=True, path_length=1, key_usage=CA_USAGE)
    ca = certificate("CA", root, ca=True, path_length=0, key_usage=CA_USAGE)
    leaf, _ = certificate("Agency", ca, key_usage=SIGNING)
    assert _chain_problem(leaf, [ca[0]], [root[0]], NOW) is None


def test_a_path_longer_than_a_ca_allows_does_not_lead_to_its_root():
    root = certificate("Root", ca=True, path_length=0, key_usage=CA_USAGE)
    ca = certificate("CA", root, ca=True, key_usage=CA_USAGE)
    leaf, _ = certificate("Agency", ca, key_usage=SIGNING)
    problem = _chain_problem(leaf, [ca[0]], [root[0]], NOW)
    assert problem == "the certificate does not lead to a root of the archive at that time"
    # Issued straight by that root, the same kind of leaf is within its path length.
    direct, _ = certificate("Agency", root, key_usage=SIGNING)
    assert _chain_problem(direct, [], [root[0]], NOW) is None


def test_an_issuer_whose_key_usage_does_not_allow_certificates_is_not_a_ca():
    root = certificate("Root", ca=True, key_usage=CA_USAGE)
    ca = certificate("CA", root, ca=True, key_usage=usage(crl_sign=True, digital_signature=True))
    leaf, _ = certificate("Agency", ca, key_usage=SIGNING)
    assert _chain_problem(leaf, [ca[0]], [root[0]], NOW) is not None
    not_ca = certificate("Not a CA", root, ca=False, key_usage=CA_USAGE)
    below, _ = certificate("Agency", not_ca, key_usage=SIGNING)
    assert _chain_problem(below, [not_ca[0]], [root[0]], NOW) is not None


def test_a_leaf_whose_key_usage_does_not_allow_signatures_is_refused():
    root = certificate("Root", ca=True, key_usage=CA_USAGE)
    leaf, _ = certificate("Agency", root, key_usage=usage(key_encipherment=True))
    assert _chain_problem(leaf, [], [root[0]], NOW) == (
        "the certificate's key usage does not allow signatures"
    )
    committed, _ = certificate("Agency", root, key_usage=usage(content_commitment=True))
    assert _chain_problem(committed, [], [root[0]], NOW) is None
    unstated, _ = certificate("Agency", root)
    assert _chain_problem(unstated, [], [root[0]], NOW) is None
