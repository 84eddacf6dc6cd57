"""The TEST PKI: both hierarchies, cross-certified, with OCSP, CRLs and time-stamping on loopback."""

import asyncio
import datetime as dt
import hashlib
import os
import secrets
import stat
import subprocess
import sys
import urllib.request
from urllib.parse import urlsplit

import pytest
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID
from django.core.management import call_command
from django.core.management.base import CommandError
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError
from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend
from werkzeug.test import Client

from lienthong.audit.models import AuditRecord
from lienthong.testing.pki import free_loopback_port
from lienthong.trust import selectors, services, testpki
from lienthong.trust.models import TrustedCertificate

ISSUERS = {
    "public-ca-1": "public-root",
    "public-ca-2": "public-root",
    "government-ca": "government-root",
    "government-root-cross": "public-root",
    "public-root-cross": "government-root",
    "citizen": "public-ca-1",
    "tsa": "public-ca-1",
    "business": "public-ca-2",
    "agency": "government-ca",
    "officer": "government-ca",
    "node-tls": "government-ca",
    **{f"ocsp-{ca}": ca for ca in testpki.CERTIFICATION_AUTHORITIES},
}


def pyca(pki, label):
    return x509.load_der_x509_certificate(pki.certificate(label).dump())


def extension(cert, oid):
    return cert.extensions.get_extension_for_oid(oid)


# --- Structure -----------------------------------------------------------------


def test_it_holds_both_hierarchies_each_certificate_signed_by_its_issuer(test_pki):
    assert sorted(test_pki.labels) == sorted([*ISSUERS, "public-root", "government-root"])
    for label, issuer in ISSUERS.items():
        cert, issuer_cert = pyca(test_pki, label), pyca(test_pki, issuer)
        assert cert.issuer == issuer_cert.subject, label
        cert.verify_directly_issued_by(issuer_cert)
    for root in ("public-root", "government-root"):
        cert = pyca(test_pki, root)
        cert.verify_directly_issued_by(cert)


def test_each_cross_certificate_carries_the_other_roots_name_and_key(test_pki):
    for cross, certified in (
        ("government-root-cross", "government-root"),
        ("public-root-cross", "public-root"),
    ):
        assert pyca(test_pki, cross).subject == pyca(test_pki, certified).subject
        assert pyca(test_pki, cross).public_key() == pyca(test_pki, certified).public_key()
        constraints = extension(pyca(test_pki, cross), ExtensionOID.BASIC_CONSTRAINTS).value
        assert constraints.ca and constraints.path_length == 1


def test_every_name_says_test_and_fits_the_x509_limits(test_pki):
    for label in test_pki.labels:
        cert = pyca(test_pki, label)
        for name in (cert.subject, cert.issuer):
            (common_name,) = name.get_attributes_for_oid(NameOID.COMMON_NAME)
            assert "TEST" in common_name.value, label
            assert name.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "VN"
            assert all(len(attribute.value) <= 64 for attribute in name), label


def test_keys_are_rsa_2048_or_p256_and_every_signature_is_sha256(test_pki):
    rsa_labels = {"public-root", "government-root", "agency"}
    for label in test_pki.labels:
        cert = pyca(test_pki, label)
        key = cert.public_key()
        if label in rsa_labels or label.endswith("-root-cross"):
            assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048, label
        else:
            assert isinstance(key, ec.EllipticCurvePublicKey), label
            assert isinstance(key.curve, ec.SECP256R1), label
        assert isinstance(cert.signature_hash_algorithm, hashes.SHA256), label


def test_roots_last_ten_years_cas_five_end_entities_one_and_all_are_valid_now(test_pki):
    now = dt.datetime.now(dt.UTC)
    for label in test_pki.labels:
        cert = pyca(test_pki, label)
        assert cert.not_valid_before_utc <= now < cert.not_valid_after_utc, label
        years = round((cert.not_valid_after_utc - cert.not_valid_before_utc).days / 365.25)
        if label in ("public-root", "government-root"):
            assert years == 10
        elif label in testpki.CERTIFICATION_AUTHORITIES or label.endswith("-cross"):
            assert years == 5, label
        else:
            assert years == 1, label


def test_subjects_carry_the_identifiers_vietnamese_certificates_carry(test_pki):
    def uid(label):
        (value,) = pyca(test_pki, label).subject.get_attributes_for_oid(NameOID.USER_ID)
        return value.value

    assert uid("citizen") == "CCCD:001099000001"  # 12-digit personal identification number
    assert uid("officer") == "CCCD:001190000002"
    assert uid("business") == "MST:0100000001"  # tax code
    assert uid("agency") == "000.00.00.G12"  # Decision 20/2020/QĐ-TTg: Ministry of Finance


def test_end_entities_are_limited_to_their_purposes(test_pki):
    def usages(label):
        eku = extension(pyca(test_pki, label), ExtensionOID.EXTENDED_KEY_USAGE)
        ku = extension(pyca(test_pki, label), ExtensionOID.KEY_USAGE)
        return set(eku.value), eku.critical, ku.value

    for signer in ("agency", "officer", "citizen", "business"):
        _, _, key_usage = usages(signer)
        assert key_usage.digital_signature and key_usage.content_commitment, signer
        assert not key_usage.key_cert_sign
    assert usages("tsa")[:2] == ({ExtendedKeyUsageOID.TIME_STAMPING}, True)
    assert usages("node-tls")[0] == {
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    }
    for ca in testpki.CERTIFICATION_AUTHORITIES:
        responder = pyca(test_pki, f"ocsp-{ca}")
        assert set(extension(responder, ExtensionOID.EXTENDED_KEY_USAGE).value) == {
            ExtendedKeyUsageOID.OCSP_SIGNING
        }
        assert extension(responder, ExtensionOID.OCSP_NO_CHECK)


def test_the_node_certificate_names_every_loopback_address(test_pki):
    names = extension(pyca(test_pki, "node-tls"), ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}


def test_issued_certificates_point_at_their_issuers_services_on_loopback(test_pki):
    for label, issuer in ISSUERS.items():
        if label.startswith("ocsp-"):
            continue  # responders are not checked for revocation (id-pkix-ocsp-nocheck)
        cert = pyca(test_pki, label)
        access = extension(cert, ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
        ocsp_urls = [
            d.access_location.value
            for d in access
            if d.access_method == x509.AuthorityInformationAccessOID.OCSP
        ]
        ca_issuers = [
            d.access_location.value
            for d in access
            if d.access_method == x509.AuthorityInformationAccessOID.CA_ISSUERS
        ]
        (point,) = extension(cert, ExtensionOID.CRL_DISTRIBUTION_POINTS).value
        assert ocsp_urls == [test_pki.ocsp_url(issuer)], label
        assert ca_issuers[0] == test_pki.ca_certificate_url(issuer), label
        assert [name.value for name in point.full_name] == [test_pki.crl_url(issuer)], label
        assert test_pki.ocsp_url(issuer).startswith("http://127.0.0.1:")
    # The CAs under a root also name the cross-certificate that leads to the other root.
    government_ca = extension(
        pyca(test_pki, "government-ca"), ExtensionOID.AUTHORITY_INFORMATION_ACCESS
    )
    assert any(
        d.access_location.value.endswith("/government-root-cross.crt") for d in government_ca.value
    )


def test_every_end_entity_has_an_owner_only_pkcs12_that_opens_with_the_passphrase_beside_it(
    test_pki,
):
    assert set(test_pki.p12_files) == {
        "agency",
        "officer",
        "citizen",
        "business",
        "node-tls",
        "tsa",
    }
    for label, path in test_pki.p12_files.items():
        passphrase_file = path.with_name(path.name + ".passphrase")
        for secret in (path, passphrase_file):
            assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
        key, cert, chain = pkcs12.load_key_and_certificates(
            path.read_bytes(), test_pki.p12_passphrase(label)
        )
        assert cert == pyca(test_pki, label)
        assert key.public_key() == cert.public_key()
        assert chain == [pyca(test_pki, ISSUERS[label]), pyca(test_pki, ISSUERS[ISSUERS[label]])]
    for key_file in (test_pki.directory / "keys").iterdir():
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600, key_file


def test_loading_the_folder_again_gives_the_same_certificates_and_keys(test_pki):
    again = testpki.load_test_pki(test_pki.directory)
    for label in test_pki.labels:
        assert again.certificate(label).dump() == test_pki.certificate(label).dump()
    assert again.private_key("officer").dump() == test_pki.private_key("officer").dump()
    node = x509.load_pem_x509_certificate(again.certificate_path("node-tls").read_bytes())
    key = serialization.load_pem_private_key(again.key_path("node-tls").read_bytes(), None)
    assert node == pyca(test_pki, "node-tls") and key.public_key() == node.public_key()
    assert again.base_url == test_pki.base_url


# --- Cross-recognition -----------------------------------------------------------


def validate(pki, leaf, *, trusting, others=None, **context):
    others = others or [
        "public-ca-1",
        "public-ca-2",
        "government-ca",
        "government-root-cross",
        "public-root-cross",
    ]
    validator = CertificateValidator(
        pki.certificate(leaf),
        validation_context=ValidationContext(
            trust_roots=[pki.certificate(trusting)],
            other_certs=[pki.certificate(label) for label in others],
            **context,
        ),
    )
    return asyncio.run(validator.async_validate_usage({"non_repudiation"}))


def test_trusting_only_the_public_root_validates_an_officer_through_the_cross_certificate(test_pki):
    path = validate(test_pki, "officer", trusting="public-root")

    assert [cert.sha256 for cert in path] == [
        test_pki.certificate(label).sha256
        for label in ("public-root", "government-root-cross", "government-ca", "officer")
    ]


def test_trusting_only_the_government_root_validates_a_citizen_through_the_other_cross_certificate(
    test_pki,
):
    path = validate(test_pki, "citizen", trusting="government-root")

    assert test_pki.certificate("public-root-cross").sha256 in [cert.sha256 for cert in path]


def test_without_the_cross_certificate_the_other_hierarchy_is_not_trusted(test_pki):
    with pytest.raises(PathBuildingError):
        validate(
            test_pki, "officer", trusting="public-root", others=["government-ca", "public-ca-1"]
        )


def test_a_validator_fetching_revocation_status_from_the_served_pki_accepts_a_valid_path(test_pki):
    path = validate(
        test_pki,
        "officer",
        trusting="public-root",
        allow_fetching=True,
        revocation_mode="require",
        fetcher_backend=RequestsFetcherBackend(),
    )

    assert len(path) == 4


# --- The trust list ------------------------------------------------------------------


@pytest.mark.django_db
def test_init_trusts_both_roots_with_their_intermediates_and_cross_certificates(tmp_path):
    pki = testpki.init_test_pki(
        directory=tmp_path / "pki", base_url="http://127.0.0.1:9780", actor="test"
    )

    listed = {
        (row.hierarchy, row.kind, row.fingerprint_sha256)
        for row in TrustedCertificate.objects.all()
    }
    assert listed == {
        (hierarchy, kind, pki.certificate(label).sha256.hex())
        for label, hierarchy, kind in [
            ("public-root", "public", "root"),
            ("government-root", "government", "root"),
            ("public-ca-1", "public", "intermediate"),
            ("public-ca-2", "public", "intermediate"),
            ("government-ca", "government", "intermediate"),
            ("government-root-cross", "government", "cross"),
            ("public-root-cross", "public", "cross"),
        ]
    }
    record = AuditRecord.objects.get(object_type="trust.testpki")
    assert record.actor_label == "test" and record.changes["base_url"] == "http://127.0.0.1:9780"
    assert testpki.add_to_trust_list(pki, actor="test") == []  # already there: nothing twice


@pytest.mark.django_db
def test_the_nodes_trust_list_validates_both_hierarchies_and_the_cross_path(trusted_test_pki):
    def validated(leaf):
        context = ValidationContext(
            trust_roots=selectors.anchors(), other_certs=selectors.other_certificates()
        )
        validator = CertificateValidator(
            trusted_test_pki.certificate(leaf), validation_context=context
        )
        path = asyncio.run(validator.async_validate_usage({"non_repudiation"}))
        return selectors.hierarchy_of(path.trust_anchor.authority.certificate)

    assert validated("citizen") == "public"
    assert validated("officer") == "government"

    government_root = TrustedCertificate.objects.get(
        fingerprint_sha256=trusted_test_pki.certificate("government-root").sha256.hex()
    )
    services.set_enabled(actor="test", trusted=government_root, enabled=False, source="cli")

    assert validated("officer") == "public"  # through government-root-cross


# --- Revocation -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def revocable_pki(test_pki_factory):
    """A PKI of this module's own: revoking in the shared one would spoil other tests."""
    return test_pki_factory()


def ocsp_status(app, pki, label):
    request = ocsp.OCSPRequestBuilder().add_certificate(
        pyca(pki, label), pyca(pki, ISSUERS[label]), hashes.SHA256()
    )
    response = Client(app).post(
        urlsplit(pki.ocsp_url(ISSUERS[label])).path,
        data=request.build().public_bytes(serialization.Encoding.DER),
        content_type="application/ocsp-request",
    )
    return ocsp.load_der_ocsp_response(response.data)


def crl(app, pki, issuer, at=None):
    headers = {"X-Certomancer-Fake-Time": at.isoformat()} if at else {}
    response = Client(app).get(urlsplit(pki.crl_url(issuer)).path, headers=headers)
    assert response.status_code == 200
    revocation_list = x509.load_der_x509_crl(response.data)
    assert revocation_list.is_signature_valid(pyca(pki, issuer).public_key())
    return revocation_list


@pytest.mark.django_db
def test_a_revocation_is_reported_by_ocsp_at_once_and_by_the_next_crl(revocable_pki):
    pki = revocable_pki
    app = testpki.wsgi_app(pki.directory)  # loaded before the revocation, as a running server is
    assert ocsp_status(app, pki, "citizen").certificate_status == ocsp.OCSPCertStatus.GOOD

    revoked_at = testpki.revoke(directory=pki.directory, label="citizen", actor="test")

    status = ocsp_status(app, pki, "citizen")
    assert status.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert status.revocation_time_utc == revoked_at
    assert status.revocation_reason == x509.ReasonFlags.key_compromise
    assert ocsp_status(app, pki, "business").certificate_status == ocsp.OCSPCertStatus.GOOD
    next_crl = crl(app, pki, "public-ca-1", at=revoked_at + testpki.CRL_UPDATE_SCHEDULE)
    entry = next_crl.get_revoked_certificate_by_serial_number(pyca(pki, "citizen").serial_number)
    assert entry is not None and entry.revocation_date_utc == revoked_at
    assert testpki.load_test_pki(pki.directory).revocation("citizen") == (
        revoked_at,
        "key_compromise",
    )
    record = AuditRecord.objects.get(object_type="trust.testpki.certificate", object_id="citizen")
    assert record.action == AuditRecord.Action.UPDATE and record.actor_label == "test"


@pytest.mark.django_db
def test_the_served_pki_reports_a_revocation_without_a_restart(revocable_pki):
    import requests

    pki = revocable_pki
    testpki.revoke(
        directory=pki.directory, label="officer", reason="affiliation_changed", actor="test"
    )

    request = ocsp.OCSPRequestBuilder().add_certificate(
        pyca(pki, "officer"), pyca(pki, "government-ca"), hashes.SHA256()
    )
    response = requests.post(
        pki.ocsp_url("government-ca"),
        data=request.build().public_bytes(serialization.Encoding.DER),
        headers={"Content-Type": "application/ocsp-request"},
        timeout=5,
    )
    status = ocsp.load_der_ocsp_response(response.content)
    assert status.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert status.revocation_reason == x509.ReasonFlags.affiliation_changed


@pytest.mark.django_db
def test_revoke_refuses_roots_unknown_labels_reasons_and_a_second_revocation(revocable_pki):
    directory = revocable_pki.directory
    testpki.revoke(directory=directory, label="business", actor="test")
    config_before = (directory / testpki.CONFIG_FILE).read_bytes()
    records_before = AuditRecord.objects.count()

    for label, reason, message in [
        ("public-root", "key_compromise", "is a root"),
        ("nobody", "key_compromise", "no certificate labelled 'nobody'"),
        ("agency", "bored", "unknown reason 'bored'"),
        ("business", "key_compromise", "already revoked"),
    ]:
        with pytest.raises(testpki.TestPKIError, match=message):
            testpki.revoke(directory=directory, label=label, reason=reason, actor="test")

    assert (directory / testpki.CONFIG_FILE).read_bytes() == config_before
    assert AuditRecord.objects.count() == records_before


# --- Time-stamping ------------------------------------------------------------------------


def test_the_tsa_answers_an_rfc3161_request(test_pki):
    digest = hashlib.sha256(b"ho so 000.00.00.G12-261128-0001").digest()
    nonce = secrets.randbits(63)
    request = tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": digest,
            },
            "nonce": nonce,
            "cert_req": True,
        }
    )

    response = Client(testpki.wsgi_app(test_pki.directory)).post(
        urlsplit(test_pki.tsa_url).path,
        data=request.dump(),
        content_type="application/timestamp-query",
    )

    reply = tsp.TimeStampResp.load(response.data)
    assert reply["status"]["status"].native == "granted"
    signed_data = reply["time_stamp_token"]["content"]
    info = signed_data["encap_content_info"]["content"].parsed
    assert info["message_imprint"]["hashed_message"].native == digest
    assert info["nonce"].native == nonce
    assert abs(info["gen_time"].native - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    signer = signed_data["signer_infos"][0]["sid"].chosen
    assert signer["serial_number"].native == test_pki.certificate("tsa").serial_number


def test_pyhanko_gets_a_timestamp_from_the_served_tsa_that_validates_to_the_public_root(test_pki):
    digest = hashlib.sha256(b"message log head").digest()

    token = asyncio.run(HTTPTimeStamper(test_pki.tsa_url).async_timestamp(digest, "sha256"))
    status = asyncio.run(
        validate_tst_signed_data(
            token["content"],
            ValidationContext(
                trust_roots=[test_pki.certificate("public-root")],
                allow_fetching=True,
                revocation_mode="require",
                fetcher_backend=RequestsFetcherBackend(),
            ),
            expected_tst_imprint=lambda algorithm: digest,
        )
    )

    assert status["intact"] and status["valid"] and status["trust_problem_indic"] is None


# --- The command ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_pki_init_twice_refuses_with_a_one_line_reason_and_force_replaces_it(tmp_path, capsys):
    directory = tmp_path / "pki"
    call_command("pki", "init", "--dir", str(directory), "--base-url", "http://127.0.0.1:9781")
    assert "18 certificates" in capsys.readouterr().out
    first_root = testpki.load_test_pki(directory).certificate("public-root").sha256

    with pytest.raises(CommandError) as refused:
        call_command("pki", "init", "--dir", str(directory))
    assert str(refused.value) == (
        f"a test PKI already exists in {directory} (use --force to replace it)"
    )
    assert testpki.load_test_pki(directory).certificate("public-root").sha256 == first_root

    call_command("pki", "init", "--dir", str(directory), "--force")
    replaced = testpki.load_test_pki(directory)
    # Fresh keys, fresh certificates; the old ones stay listed, disabled.
    assert replaced.certificate("public-root").sha256 != first_root
    assert not TrustedCertificate.objects.get(fingerprint_sha256=first_root.hex()).is_enabled
    assert TrustedCertificate.objects.filter(kind="root", is_enabled=True).count() == 2
    assert replaced.base_url == testpki.DEFAULT_BASE_URL
    assert not [p for p in tmp_path.iterdir() if p.name != "pki"]  # no staging folder left behind


def test_pki_status_lists_every_certificate_with_its_validity_and_status(test_pki, capsys):
    call_command("pki", "status", "--dir", str(test_pki.directory))

    out = capsys.readouterr().out
    for label in test_pki.labels:
        assert f"\n{label} " in out
    assert "CN=TEST Trần Thị Bình" in out
    assert "valid" in out and "REVOKED" not in out


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (
            ["status", "--dir", "{missing}"],
            "no test PKI in {missing}: run `lienthong pki init` first",
        ),
        (["revoke", "nobody", "--dir", "{pki}"], "no certificate labelled 'nobody'"),
        (["init", "--dir", "{pki}/keys"], "is not empty and holds no test PKI"),
        (
            ["init", "--dir", "{new}", "--base-url", "ftp://x"],
            "the base URL must start with http://",
        ),
    ],
)
def test_bad_input_gets_a_one_line_reason(test_pki, tmp_path, args, reason):
    places = {"missing": tmp_path / "missing", "pki": test_pki.directory, "new": tmp_path / "new"}
    args = [arg.format(**places) for arg in args]

    with pytest.raises(CommandError) as refused:
        call_command("pki", *args)

    assert reason.format(**places) in str(refused.value)
    assert "\n" not in str(refused.value)


def test_pki_serve_prints_the_service_urls_and_serves_them(test_pki, tmp_path):
    port = free_loopback_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lienthong",
            "pki",
            "serve",
            "--dir",
            str(test_pki.directory),
            "--port",
            str(port),
        ],
        env={**os.environ, "LIENTHONG_DATA_DIR": str(tmp_path), "DATABASE_URL": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        while not lines or not lines[-1].startswith("Press Ctrl+C"):
            line = server.stdout.readline()
            assert line, server.stderr.read()
            lines.append(line)
        crl_path = urlsplit(test_pki.crl_url("government-ca")).path

        with urllib.request.urlopen(f"http://127.0.0.1:{port}{crl_path}", timeout=5) as response:
            served = x509.load_der_x509_crl(response.read())
    finally:
        server.terminate()
        server.communicate(timeout=10)

    assert any(test_pki.tsa_url in line for line in lines)
    assert any(test_pki.ocsp_url("public-root") in line for line in lines)
    assert served.issuer == pyca(test_pki, "government-ca").subject


def test_pki_serve_on_a_busy_port_refuses_with_a_one_line_reason(test_pki):
    busy = urlsplit(test_pki.base_url).port  # the session's own server listens there

    with pytest.raises(CommandError) as refused:
        call_command("pki", "serve", "--dir", str(test_pki.directory), "--port", str(busy))

    assert str(refused.value).startswith(f"cannot listen on 127.0.0.1 port {busy}:")
    assert "\n" not in str(refused.value)
