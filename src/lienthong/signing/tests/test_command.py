"""lienthong signing: the CSR path an operator follows with a licensed CA."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from django.core.management import call_command
from django.core.management.base import CommandError

from lienthong.signing import keys
from lienthong.signing.models import CredentialStatus, SigningCredential


def test_request_then_import_the_cas_certificate(mai, trusted_test_pki, tmp_path, capsys):
    request_file = tmp_path / "mai.csr.pem"
    call_command(
        "signing", "request-certificate", mai.username, "--label", "Mai", "--out", str(request_file)
    )
    credential = SigningCredential.objects.get(user=mai)
    assert credential.status == CredentialStatus.AWAITING_CERTIFICATE
    assert request_file.read_text().startswith("-----BEGIN CERTIFICATE REQUEST-----")

    # The CA (here the TEST public CA) certifies the request it received.
    from cryptography import x509

    request = x509.load_pem_x509_csr(request_file.read_bytes())
    issued = keys.issue_with_test_ca(
        pki=trusted_test_pki, ca="public-ca-1", request_der=request.public_bytes(Encoding.DER)
    )
    certificate_file = tmp_path / "mai.cert.pem"
    certificate_file.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in issued[:1]))
    call_command("signing", "import-certificate", credential.credential_id, str(certificate_file))

    credential.refresh_from_db()
    assert credential.is_usable()
    # The CA sent the leaf alone: its issuers came from the trust list.
    assert len(credential.chain) == 2
    assert credential.credential_id in capsys.readouterr().out


def test_the_test_pki_certifies_from_the_command_line(mai, trusted_test_pki, capsys):
    call_command("signing", "request-certificate", mai.username)
    credential = SigningCredential.objects.get(user=mai)
    call_command(
        "signing",
        "issue-test-certificate",
        credential.credential_id,
        "--pki",
        str(trusted_test_pki.directory),
    )
    credential.refresh_from_db()
    assert credential.status == CredentialStatus.ACTIVE
    call_command("signing", "disable", credential.credential_id)
    credential.refresh_from_db()
    assert credential.status == CredentialStatus.DISABLED


def test_a_refusal_is_a_command_error(mai, tmp_path):
    call_command("signing", "request-certificate", mai.username)
    credential = SigningCredential.objects.get(user=mai)
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"junk")
    with pytest.raises(CommandError, match="not_a_certificate"):
        call_command("signing", "import-certificate", credential.credential_id, str(junk))
    with pytest.raises(CommandError, match="No user"):
        call_command("signing", "request-certificate", "nobody")
