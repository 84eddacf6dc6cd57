"""Signing keys held by the node: Chị Lan imports the Ministry of Finance's key, and it stays secret.

The keys come from the session's TEST PKI (``test_pki.p12_path("agency")``);
weak, mismatched and expired ones are made on the spot (tests/certs.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import stat
from io import StringIO

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from lienthong import config
from lienthong.audit.models import AuditRecord
from lienthong.directory.models import Agency
from lienthong.trust import keystore
from lienthong.trust.models import SigningKey
from lienthong.trust.tests import certs

pytestmark = pytest.mark.django_db

KEYS_URL = "/admin/trust/signingkey/"


def pyca_certificate(pki, label: str) -> x509.Certificate:
    return x509.load_der_x509_certificate(pki.certificate(label).dump())


def pem_key(key, passphrase: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def pkcs8_der(pki, label: str) -> bytes:
    path = pki.p12_path(label)
    key, _, _ = pkcs12.load_key_and_certificates(path.read_bytes(), pki.p12_passphrase(label))
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def import_agency_key(pki, **kwargs) -> SigningKey:
    return keystore.import_pkcs12(
        actor="test",
        data=pki.p12_path("agency").read_bytes(),
        passphrase=pki.p12_passphrase("agency"),
        name=kwargs.pop("name", "Bộ Tài chính — khóa cơ quan"),
        **kwargs,
    )


def end_entity(common_name="TEST Chuyên viên", **kwargs) -> certs.Issued:
    issuer = certs.issue("TEST Issuing CA", key="p384")
    return certs.issue(common_name, issuer=issuer, ca=False, **kwargs)


def key_agreement_only() -> certs.Issued:
    """An end-entity certificate whose key may only agree keys (ECDH), not sign."""
    key = certs.private_key("p256")
    now = dt.datetime.now(dt.UTC)
    usage = x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=True, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    certificate = (
        x509.CertificateBuilder()
        .subject_name(certs.name("TEST key agreement"))
        .issuer_name(certs.name("TEST key agreement"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )
    return certs.Issued(certificate, key)


def refusal(excinfo) -> str:
    return excinfo.value.code


def key_records():
    return AuditRecord.objects.filter(object_type="trust.signingkey").order_by("pk")


# --- Importing --------------------------------------------------------------------


def test_an_agency_key_is_imported_from_its_pkcs12_file_with_its_chain(test_pki):
    ministry = Agency.objects.get(identifier="000.00.00.G12")

    key = import_agency_key(test_pki, agency=ministry)

    key.refresh_from_db()
    leaf = pyca_certificate(test_pki, "agency")
    assert key.name == "Bộ Tài chính — khóa cơ quan"
    assert key.agency == ministry and key.holder == ""
    assert bytes(key.certificate) == leaf.public_bytes(serialization.Encoding.DER)
    assert key.fingerprint_sha256 == leaf.fingerprint(hashes.SHA256()).hex()
    assert key.key_description == "RSA 2048"
    assert "CN=TEST Bộ Tài chính (Ministry of Finance)" in key.subject
    assert "TEST Government CA" in key.issuer
    assert (key.not_before, key.not_after) == (leaf.not_valid_before_utc, leaf.not_valid_after_utc)
    assert key.is_enabled and key.is_usable
    assert [c.subject for c in keystore.chain(key)] == [
        pyca_certificate(test_pki, "government-ca").subject,
        pyca_certificate(test_pki, "government-root").subject,
    ]


def test_an_officer_key_names_its_holder_and_keeps_its_curve(test_pki):
    key = keystore.import_pkcs12(
        actor="test",
        data=test_pki.p12_path("officer").read_bytes(),
        passphrase=test_pki.p12_passphrase("officer"),
        name="",
        holder="Trần Thị Bình, chuyên viên",
    )
    assert key.name == "TEST Trần Thị Bình"  # the certificate's common name
    assert key.agency is None and key.holder == "Trần Thị Bình, chuyên viên"
    assert key.key_description == "EC P-256 (secp256r1)"


def test_a_wrong_passphrase_is_refused_and_nothing_is_written(test_pki):
    with pytest.raises(keystore.KeyRefused) as excinfo:
        keystore.import_pkcs12(
            actor="test",
            data=test_pki.p12_path("agency").read_bytes(),
            passphrase=b"not-the-passphrase",
            name="x",
        )
    assert refusal(excinfo) == "wrong_passphrase"
    assert excinfo.value.message_vi.startswith("Cụm mật khẩu không đúng")
    assert str(excinfo.value) == "Wrong passphrase: the private key cannot be decrypted."
    assert not SigningKey.objects.exists()
    assert not key_records().exists()


def test_a_file_that_is_not_pkcs12_is_told_apart_from_a_wrong_passphrase(test_pki):
    with pytest.raises(keystore.KeyRefused) as excinfo:
        keystore.import_pkcs12(
            actor="test", data=test_pki.certificate("agency").dump(), passphrase=b"x", name="x"
        )
    assert refusal(excinfo) == "not_pkcs12"


def test_an_oversized_file_is_refused_before_it_is_parsed():
    with pytest.raises(keystore.KeyRefused) as excinfo:
        keystore.import_pkcs12(
            actor="test", data=b"\0" * (keystore.MAX_KEY_FILE_BYTES + 1), passphrase=b"", name="x"
        )
    assert refusal(excinfo) == "too_large"


@pytest.mark.parametrize("kind", ["rsa1024", "p192"])
def test_a_weak_key_is_refused_per_circular_15_2025(kind):
    weak = end_entity(key=kind)
    with pytest.raises(keystore.KeyRefused) as excinfo:
        keystore.import_pem(
            actor="test", key_pem=pem_key(weak.key), cert_pem_chain=weak.pem, passphrase=None,
            name="weak",
        )  # fmt: skip
    assert refusal(excinfo) == "weak_key"
    assert "15/2025/TT-BKHCN" in excinfo.value.message_vi
    assert not SigningKey.objects.exists()


def test_a_weak_key_inside_a_pkcs12_is_refused_too():
    weak = end_entity(key="rsa1024")
    data = pkcs12.serialize_key_and_certificates(
        b"weak", weak.key, weak.certificate, None,
        serialization.BestAvailableEncryption(b"correct horse"),
    )  # fmt: skip
    with pytest.raises(keystore.KeyRefused) as excinfo:
        keystore.import_pkcs12(actor="test", data=data, passphrase=b"correct horse", name="weak")
    assert refusal(excinfo) == "weak_key"


def test_a_certificate_that_is_not_the_keys_is_refused(test_pki):
    officer_key = serialization.load_der_private_key(test_pki.private_key("officer").dump(), None)
    citizen = pyca_certificate(test_pki, "citizen").public_bytes(serialization.Encoding.PEM)
    with pytest.raises(keystore.KeyRefused) as excinfo:
        keystore.import_pem(
            actor="test", key_pem=pem_key(officer_key), cert_pem_chain=citizen, passphrase=None,
            name="x",
        )  # fmt: skip
    assert refusal(excinfo) == "certificate_mismatch"


def test_an_expired_certificate_is_refused():
    expired = end_entity(valid_from=dt.datetime.now(dt.UTC) - dt.timedelta(days=400), days=365)
    with pytest.raises(keystore.KeyRefused) as excinfo:
        keystore.import_pem(
            actor="test", key_pem=pem_key(expired.key), cert_pem_chain=expired.pem,
            passphrase=None, name="x",
        )  # fmt: skip
    assert refusal(excinfo) == "expired"
    assert "hết hạn ngày" in excinfo.value.message_vi


def test_a_certificate_that_may_not_sign_documents_is_refused(test_pki):
    # A key-agreement-only certificate, then a CA's (which may sign, but certificates).
    no_signing = key_agreement_only()
    ca_key = serialization.load_der_private_key(test_pki.private_key("public-ca-1").dump(), None)
    ca = pyca_certificate(test_pki, "public-ca-1").public_bytes(serialization.Encoding.PEM)
    refused = []
    for key_pem, cert_pem in ((pem_key(no_signing.key), no_signing.pem), (pem_key(ca_key), ca)):
        with pytest.raises(keystore.KeyRefused) as excinfo:
            keystore.import_pem(
                actor="test", key_pem=key_pem, cert_pem_chain=cert_pem, passphrase=None, name="x"
            )
        refused.append(refusal(excinfo))
    assert refused == ["not_for_signing", "not_for_signing"]


def test_a_pem_key_is_imported_with_its_passphrase_and_an_unordered_chain(test_pki):
    officer_key = serialization.load_der_private_key(test_pki.private_key("officer").dump(), None)
    bundle = b"".join(
        pyca_certificate(test_pki, label).public_bytes(serialization.Encoding.PEM)
        for label in ("government-root", "citizen", "officer", "government-ca")
    )
    encrypted = pem_key(officer_key, b"mat-khau-rat-dai")

    with pytest.raises(keystore.KeyRefused) as missing:
        keystore.import_pem(
            actor="test", key_pem=encrypted, cert_pem_chain=bundle, passphrase=None, name="x"
        )
    with pytest.raises(keystore.KeyRefused) as wrong:
        keystore.import_pem(
            actor="test", key_pem=encrypted, cert_pem_chain=bundle, passphrase=b"sai", name="x"
        )
    key = keystore.import_pem(
        actor="test", key_pem=encrypted, cert_pem_chain=bundle, passphrase=b"mat-khau-rat-dai",
        name="Bình",
    )  # fmt: skip

    assert (refusal(missing), refusal(wrong)) == ("passphrase_required", "wrong_passphrase")
    assert keystore.certificate(key) == pyca_certificate(test_pki, "officer")
    # The citizen's certificate is not on the way up, so it is left out.
    assert keystore.chain(key) == [
        pyca_certificate(test_pki, "government-ca"),
        pyca_certificate(test_pki, "government-root"),
    ]


def test_a_key_the_node_holds_already_is_not_imported_twice(test_pki):
    first = import_agency_key(test_pki)
    with pytest.raises(keystore.KeyRefused) as excinfo:
        import_agency_key(test_pki, name="again")
    assert refusal(excinfo) == "duplicate"
    assert first.name in excinfo.value.message_en
    assert SigningKey.objects.count() == 1


def test_an_ed25519_key_is_not_accepted():
    other = end_entity(key="ed25519")
    with pytest.raises(keystore.KeyRefused) as excinfo:
        keystore.import_pem(
            actor="test", key_pem=pem_key(other.key), cert_pem_chain=other.pem, passphrase=None,
            name="x",
        )  # fmt: skip
    assert refusal(excinfo) == "unsupported_key"


# --- Encryption at rest -------------------------------------------------------------


def test_the_private_key_is_stored_encrypted_and_opens_only_with_the_nodes_key(test_pki, settings):
    key = import_agency_key(test_pki)
    plaintext = pkcs8_der(test_pki, "agency")
    stored = bytes(SigningKey.objects.values_list("encrypted_private_key", flat=True).get())

    assert plaintext not in stored
    assert base64.b64encode(plaintext) not in stored
    assert plaintext[-64:] not in stored  # not even a recognisable piece of it
    assert stored.startswith(b"LTK1")
    assert keystore.decrypt_private_key(stored, fingerprint=key.fingerprint_sha256) == plaintext
    assert keystore.load_private_key(key).public_key() == keystore.certificate(key).public_key()

    settings.KEY_ENCRYPTION_KEY = "another-node-another-key-encryption-key-0123456789"
    with pytest.raises(keystore.KeyRefused) as excinfo:
        keystore.load_private_key(key)
    assert refusal(excinfo) == "other_key_encryption_key"
    assert "LIENTHONG_KEY_ENCRYPTION_KEY" in excinfo.value.message_en


def test_an_encrypted_key_moved_to_another_certificate_or_altered_does_not_decrypt(test_pki):
    agency = import_agency_key(test_pki)
    officer = keystore.import_pkcs12(
        actor="test",
        data=test_pki.p12_path("officer").read_bytes(),
        passphrase=test_pki.p12_passphrase("officer"),
        name="officer",
    )
    moved = bytes(agency.encrypted_private_key)
    with pytest.raises(keystore.KeyRefused) as swapped:
        keystore.decrypt_private_key(moved, fingerprint=officer.fingerprint_sha256)
    altered = bytearray(moved)
    altered[-1] ^= 1
    with pytest.raises(keystore.KeyRefused) as tampered:
        keystore.decrypt_private_key(bytes(altered), fingerprint=agency.fingerprint_sha256)
    assert refusal(swapped) == refusal(tampered) == "key_damaged"


def test_two_encryptions_of_one_key_differ(test_pki):
    plaintext = pkcs8_der(test_pki, "officer")
    fingerprint = "ab" * 32
    first = keystore.encrypt_private_key(plaintext, fingerprint=fingerprint)
    second = keystore.encrypt_private_key(plaintext, fingerprint=fingerprint)
    assert first != second  # a fresh nonce each time
    assert keystore.decrypt_private_key(second, fingerprint=fingerprint) == plaintext


def test_a_generated_key_encryption_key_is_kept_owner_only_and_reused(tmp_path, monkeypatch):
    monkeypatch.delenv("LIENTHONG_KEY_ENCRYPTION_KEY", raising=False)
    monkeypatch.delenv("LIENTHONG_KEY_ENCRYPTION_KEY_FILE", raising=False)
    first = config.load_or_create_key_encryption_key(tmp_path)
    assert first == config.load_or_create_key_encryption_key(tmp_path)
    assert first != config.load_or_create_key_encryption_key(tmp_path / "other-node")
    assert len(first) >= 64
    assert stat.S_IMODE(os.stat(tmp_path / "key_encryption_key").st_mode) == 0o600
    assert first != config.load_or_create_secret_key(tmp_path)


def test_a_configured_key_encryption_key_wins_and_a_short_one_stops_the_node(tmp_path, monkeypatch):
    secret = tmp_path / "kek"
    secret.write_text("k" * 40 + "\n")
    monkeypatch.setenv("LIENTHONG_KEY_ENCRYPTION_KEY_FILE", str(secret))
    assert config.load_or_create_key_encryption_key(tmp_path) == "k" * 40
    assert not (tmp_path / "key_encryption_key").exists()
    monkeypatch.delenv("LIENTHONG_KEY_ENCRYPTION_KEY_FILE")
    monkeypatch.setenv("LIENTHONG_KEY_ENCRYPTION_KEY", "password123")
    with pytest.raises(config.ConfigurationError, match="LIENTHONG_KEY_ENCRYPTION_KEY: at least"):
        config.load_or_create_key_encryption_key(tmp_path)


# --- What is recorded, and what never is ---------------------------------------------


def test_the_import_is_audited_without_the_passphrase_or_any_key_material(test_pki):
    key = import_agency_key(test_pki, agency=Agency.objects.get(identifier="000.00.00.G12"))

    (record,) = key_records()
    assert (record.action, record.actor_label, record.object_id) == ("import", "test", str(key.pk))
    assert record.changes["fingerprint_sha256"] == key.fingerprint_sha256
    assert record.changes["agency"] == "000.00.00.G12"
    assert record.changes["imported_from"] == "pkcs12"
    assert len(record.changes["chain_sha256"]) == 2
    written = json.dumps(record.changes, ensure_ascii=False)
    passphrase = test_pki.p12_passphrase("agency").decode()
    plaintext = pkcs8_der(test_pki, "agency")
    for secret in (passphrase, base64.b64encode(plaintext).decode(), plaintext.hex(), "PRIVATE"):
        assert secret not in written
    assert base64.b64encode(bytes(key.encrypted_private_key)).decode() not in written


def test_the_passphrase_never_reaches_the_logs_or_the_error_messages(test_pki, caplog):
    caplog.set_level(logging.DEBUG)
    passphrase = test_pki.p12_passphrase("agency")
    wrong = passphrase + b"-typo"
    with pytest.raises(keystore.KeyRefused) as excinfo:
        keystore.import_pkcs12(
            actor="test", data=test_pki.p12_path("agency").read_bytes(), passphrase=wrong,
            name="x",
        )  # fmt: skip
    key = import_agency_key(test_pki)
    keystore.load_private_key(key)

    refused = excinfo.value
    messages = [str(refused), repr(refused), refused.message_vi, refused.message_en]
    cause = refused.__cause__
    while cause is not None:
        messages.append(str(cause))
        cause = cause.__cause__
    for text in [*messages, caplog.text]:
        assert passphrase.decode() not in text
        assert wrong.decode() not in text


def test_disabling_a_key_is_audited_once(test_pki):
    key = import_agency_key(test_pki)
    keystore.set_enabled(actor="test", key=key, enabled=False, source="cli")
    keystore.set_enabled(actor="test", key=key, enabled=False, source="cli")
    key.refresh_from_db()
    assert not key.is_enabled and not key.is_usable
    assert [r.action for r in key_records()] == ["import", "update"]
    assert key_records().last().changes == {"is_enabled": [True, False]}


# --- lienthong keys ------------------------------------------------------------------


def keys(*args, **kwargs) -> str:
    out = StringIO()
    call_command("keys", *[str(a) for a in args], stdout=out, **kwargs)
    return out.getvalue()


def test_an_operator_imports_lists_and_disables_keys_from_a_terminal(test_pki, tmp_path):
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_bytes(test_pki.p12_passphrase("agency") + b"\n")

    imported = keys(
        "import-p12", test_pki.p12_path("agency"), "--name", "Khóa Bộ Tài chính",
        "--agency", "000.00.00.G12", "--passphrase-file", passphrase_file,
    )  # fmt: skip
    key = SigningKey.objects.get()
    listing = keys("list")
    disabled = keys("disable", key.pk)

    assert f"Imported key {key.pk}: Khóa Bộ Tài chính (RSA 2048" in imported
    assert key.fingerprint_sha256 in imported
    assert key.agency.identifier == "000.00.00.G12"
    assert f"{key.pk:>4}  enabled" in listing and "Khóa Bộ Tài chính" in listing
    assert "000.00.00.G12" in listing
    assert disabled.strip() == "Khóa Bộ Tài chính disabled."
    assert "disabled" in keys("list")
    assert [(r.action, r.actor_label, r.source) for r in key_records()] == [
        ("import", "cli:keys", "cli"),
        ("update", "cli:keys", "cli"),
    ]


def test_the_passphrase_is_asked_for_at_a_prompt_not_taken_from_the_command_line(
    test_pki, monkeypatch
):
    asked = []

    def prompt(text):
        asked.append(text)
        return test_pki.p12_passphrase("officer").decode()

    monkeypatch.setattr("getpass.getpass", prompt)
    out = keys("import-p12", test_pki.p12_path("officer"), "--name", "Bình")
    assert asked == ["Passphrase of the PKCS#12 file: "]
    assert "Imported key" in out
    with pytest.raises(CommandError):
        keys("import-p12", test_pki.p12_path("officer"), "--name", "x", "--passphrase", "p")


def test_a_refused_import_is_one_line_with_its_code_and_never_the_passphrase(test_pki, tmp_path):
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text("definitely-wrong-passphrase")
    with pytest.raises(CommandError) as excinfo:
        keys("import-p12", test_pki.p12_path("agency"), "--name", "x",
             "--passphrase-file", passphrase_file)  # fmt: skip
    message = str(excinfo.value)
    assert message == (
        f"refused {test_pki.p12_path('agency')} (wrong_passphrase): "
        "Wrong passphrase: the private key cannot be decrypted."
    )
    assert "definitely-wrong-passphrase" not in message
    with pytest.raises(CommandError, match=r"no agency with the identifier 000\.00\.00\.X99"):
        keys("import-p12", test_pki.p12_path("agency"), "--name", "x",
             "--agency", "000.00.00.X99", "--passphrase-file", passphrase_file)  # fmt: skip
    with pytest.raises(CommandError, match="no signing key 4242"):
        keys("disable", 4242)


# --- The admin -------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, operator):
    client.force_login(operator)
    return client


def upload_p12(admin_client, pki, label="agency", passphrase=None, **fields):
    return admin_client.post(
        f"{KEYS_URL}add/",
        {
            "pkcs12": SimpleUploadedFile(f"{label}.p12", pki.p12_path(label).read_bytes()),
            "passphrase": passphrase
            if passphrase is not None
            else pki.p12_passphrase(label).decode(),
            "name": "Khóa Bộ Tài chính",
            "agency": "",
            "holder": "",
            **fields,
        },
    )


def test_chi_lan_uploads_a_pkcs12_in_the_admin_and_never_sees_the_key(admin_client, test_pki):
    form_page = admin_client.get(f"{KEYS_URL}add/")
    response = upload_p12(admin_client, test_pki)

    assert form_page.status_code == 200
    assert list(form_page.context["adminform"].form.fields) == [
        "pkcs12",
        "passphrase",
        "name",
        "agency",
        "holder",
    ]
    assert b'type="password"' in form_page.content
    assert response.status_code == 302, response.context["adminform"].form.errors
    key = SigningKey.objects.get()
    assert key.name == "Khóa Bộ Tài chính"
    (record,) = key_records()
    assert (record.action, record.actor_label, record.source) == ("import", "lan.operator", "admin")

    change_page = admin_client.get(f"{KEYS_URL}{key.pk}/change/")
    listing = admin_client.get(KEYS_URL)
    passphrase = test_pki.p12_passphrase("agency")
    stored = bytes(key.encrypted_private_key)
    for page in (change_page, listing):
        assert page.status_code == 200
        assert passphrase not in page.content
        assert base64.b64encode(stored) not in page.content
        assert b"PRIVATE KEY" not in page.content
    assert key.fingerprint_sha256[:16].encode() in listing.content
    assert "encrypted_private_key" not in change_page.context["adminform"].form.fields


def test_a_wrong_passphrase_in_the_admin_is_a_form_error_that_does_not_echo_it(
    admin_client, test_pki
):
    response = upload_p12(admin_client, test_pki, passphrase="wrong-passphrase-typed")
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors.as_data()
    assert [e.code for e in errors["passphrase"]] == ["wrong_passphrase"]
    assert b"wrong-passphrase-typed" not in response.content
    assert not SigningKey.objects.exists()


def test_keys_are_disabled_from_the_admin_list_and_never_deleted(admin_client, test_pki):
    key = import_agency_key(test_pki)
    response = admin_client.post(
        KEYS_URL, {"action": "disable_selected", "_selected_action": [key.pk]}
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert not key.is_enabled
    assert key_records().last().actor_label == "lan.operator"
    assert admin_client.get(f"{KEYS_URL}{key.pk}/delete/").status_code == 403
