"""Revocation answers: used until their nextUpdate, then kept as proof; judged offline."""

from __future__ import annotations

import datetime as dt
import hashlib
from importlib import import_module
from urllib.parse import urlsplit

import pytest
import time_machine
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from django.test import override_settings
from werkzeug.test import Client

from lienthong.exchange.verify_evidence import answer_problem
from lienthong.testing.pki import ocsp_changed
from lienthong.trust import revocation, testpki
from lienthong.trust.models import RevocationAnswer

ISSUER = {"citizen": "public-ca-1", "officer": "government-ca", "agency": "government-ca"}


def pyca(pki, label) -> x509.Certificate:
    return x509.load_der_x509_certificate(pki.certificate(label).dump())


@pytest.fixture(scope="module")
def app(test_pki):
    return testpki.wsgi_app(test_pki.directory)


def ocsp_der(app, pki, label) -> bytes:
    request = ocsp.OCSPRequestBuilder().add_certificate(
        pyca(pki, label), pyca(pki, ISSUER[label]), hashes.SHA256()
    )
    response = Client(app).post(
        urlsplit(pki.ocsp_url(ISSUER[label])).path,
        data=request.build().public_bytes(serialization.Encoding.DER),
        content_type="application/ocsp-request",
    )
    assert response.status_code == 200
    return response.data


def crl_der(app, pki, issuer) -> bytes:
    response = Client(app).get(urlsplit(pki.crl_url(issuer)).path)
    assert response.status_code == 200
    return response.data


def archive_certificates(pki) -> list[x509.Certificate]:
    """What an evidence archive holds: the roots and the signers' chains."""
    labels = ("public-root", "government-root", "public-ca-1", "government-ca")
    return [pyca(pki, label) for label in labels]


# --- Kept past nextUpdate, found by what they speak of -----------------------------------------


@pytest.mark.django_db
def test_answers_are_found_by_serial_and_issuer_and_kept_past_their_next_update(test_pki, app):
    citizen, officer = pyca(test_pki, "citizen"), pyca(test_pki, "officer")
    about_citizen = ocsp_der(app, test_pki, "citizen")
    about_officer = ocsp_der(app, test_pki, "officer")
    government_crl = crl_der(app, test_pki, "government-ca")
    added = revocation.remember(
        ocsp_answers=[about_citizen, about_officer], crl_answers=[government_crl]
    )
    assert added == 3
    stored = RevocationAnswer.objects.get(digest_sha256=hashlib.sha256(about_citizen).hexdigest())
    assert stored.serials == f",{citizen.serial_number:x},"

    # The citizen's answer and no other: the officer's OCSP answer names another serial,
    # the CRL is the government CA's, not the citizen's issuer's.
    assert revocation.answers_about([citizen]) == [("ocsp", about_citizen)]
    assert sorted(revocation.answers_about([officer])) == sorted(
        [("ocsp", about_officer), ("crl", government_crl)]
    )
    assert revocation.answers_about([]) == []

    # Past nextUpdate: no longer used to validate, still found as proof.
    next_update = max(RevocationAnswer.objects.values_list("next_update", flat=True))
    with time_machine.travel(next_update + dt.timedelta(days=1)):
        revocation.forget_cached()
        assert revocation.known_answers() == {"known_ocsp": [], "known_crl": []}
        assert revocation.answers_about([citizen]) == [("ocsp", about_citizen)]
        assert revocation.purge_expired() == 0


@pytest.mark.django_db
def test_purging_deletes_only_answers_past_next_update_by_more_than_the_kept_days(test_pki, app):
    revocation.remember(ocsp_answers=[ocsp_der(app, test_pki, "citizen")], crl_answers=[])
    next_update = RevocationAnswer.objects.get().next_update
    with override_settings(TRUST_REVOCATION_KEEP_DAYS=30):
        with time_machine.travel(next_update + dt.timedelta(days=29)):
            assert revocation.purge_expired() == 0
        with time_machine.travel(next_update + dt.timedelta(days=31)):
            assert revocation.purge_expired() == 1
    assert not RevocationAnswer.objects.exists()


@pytest.mark.django_db
def test_the_migration_fills_what_older_answers_speak_of(test_pki, app):
    from django.apps import apps as django_apps

    der = ocsp_der(app, test_pki, "citizen")
    revocation.remember(ocsp_answers=[der], crl_answers=[crl_der(app, test_pki, "public-ca-1")])
    RevocationAnswer.objects.update(serials="", issuer_sha256="")  # as stored before 0005
    migration = import_module("lienthong.trust.migrations.0005_revocation_answers_kept")
    assert revocation.answers_about([pyca(test_pki, "citizen")]) == []
    migration.fill_subjects(django_apps, None)
    kinds = sorted(kind for kind, _ in revocation.answers_about([pyca(test_pki, "citizen")]))
    assert kinds == ["crl", "ocsp"]


# --- Judged offline: signed by the CA they speak for -------------------------------------------


def test_genuine_answers_are_signed_by_their_ca_or_its_responder(test_pki, app):
    certificates = archive_certificates(test_pki)
    # The TEST PKI answers OCSP through a delegated responder (ocsp-<ca>), carried in
    # the response; the CRLs are signed by the CA itself.
    assert answer_problem("ocsp", ocsp_der(app, test_pki, "citizen"), certificates) is None
    assert answer_problem("ocsp", ocsp_der(app, test_pki, "officer"), certificates) is None
    assert answer_problem("crl", crl_der(app, test_pki, "government-ca"), certificates) is None


def test_an_answer_whose_ca_is_not_in_the_archive_is_not_accepted(test_pki, app):
    only_government = [pyca(test_pki, "government-root"), pyca(test_pki, "government-ca")]
    assert "not signed" in answer_problem(
        "ocsp", ocsp_der(app, test_pki, "citizen"), only_government
    )
    assert "not signed" in answer_problem(
        "crl", crl_der(app, test_pki, "public-ca-1"), only_government
    )


def private_key(pki, label):
    return serialization.load_der_private_key(pki.private_key(label).dump(), password=None)


def test_a_tampered_or_foreign_signed_ocsp_answer_is_refused(test_pki, app):
    certificates = archive_certificates(test_pki)
    genuine = ocsp_der(app, test_pki, "citizen")
    revoked = asn1_ocsp.CertStatus(
        name="revoked", value={"revocation_time": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}
    )
    # Its status edited, its signature left as it was.
    edited_der = ocsp_changed(genuine, status=revoked)
    assert "not signed" in answer_problem("ocsp", edited_der, certificates)
    # Re-signed by the public CA's own responder: genuine, and judged so.
    responder = private_key(test_pki, "ocsp-public-ca-1")
    assert (
        answer_problem("ocsp", ocsp_changed(genuine, status=revoked, key=responder), certificates)
        is None
    )
    # Signed by another CA's responder (certified for OCSP, but by the government CA).
    foreign = private_key(test_pki, "ocsp-government-ca")
    assert "not signed" in answer_problem("ocsp", ocsp_changed(genuine, key=foreign), certificates)
    # Not an OCSP response at all.
    assert "cannot be read" in answer_problem("ocsp", b"\x30\x03\x0a\x01\x00", certificates)
