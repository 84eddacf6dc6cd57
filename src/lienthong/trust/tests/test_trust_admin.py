"""The trust list in the admin: Chị Lan uploads, inspects and switches certificates."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from lienthong.audit.models import AuditRecord
from lienthong.trust.models import TrustedCertificate
from lienthong.trust.tests import certs

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/trust/trustedcertificate/add/"
LIST_URL = "/admin/trust/trustedcertificate/"


@pytest.fixture
def admin_client(client, operator):
    client.force_login(operator)
    return client


def upload(admin_client, data: bytes, *, filename="root.crt", **fields):
    return admin_client.post(
        ADD_URL,
        {
            "certificate": SimpleUploadedFile(filename, data),
            "hierarchy": "public",
            "kind": "root",
            "name": "",
            "notes": "",
            **fields,
        },
        REMOTE_ADDR="192.0.2.20",
    )


def form_errors(response):
    return response.context["adminform"].form.errors.as_data()


def change(admin_client, trusted, **fields):
    return admin_client.post(
        f"{LIST_URL}{trusted.pk}/change/",
        {
            "name": trusted.name,
            "notes": trusted.notes,
            **({"is_enabled": "on"} if trusted.is_enabled else {}),
            **fields,
        },
    )


def test_the_add_page_asks_for_a_file_not_for_facts(admin_client):
    response = admin_client.get(ADD_URL)
    assert response.status_code == 200
    fields = response.context["adminform"].form.fields
    assert list(fields) == ["certificate", "hierarchy", "kind", "name", "notes"]
    assert b'accept=".pem,.cer,.crt,.der"' in response.content


def test_an_uploaded_root_is_added_through_the_service_and_audited(admin_client, operator):
    root = certs.issue("NEAC Root TEST", key="rsa2048")

    response = upload(admin_client, root.pem, hierarchy="public", notes="Nhận ngày 01/07/2026")

    assert response.status_code == 302, response.content
    trusted = TrustedCertificate.objects.get()
    assert (trusted.name, trusted.fingerprint_sha256) == ("NEAC Root TEST", root.fingerprint)
    assert trusted.notes == "Nhận ngày 01/07/2026"
    record = AuditRecord.objects.get(object_type="trust.trustedcertificate")
    assert (record.action, record.actor, record.source) == ("create", operator, "admin")
    assert record.ip_address == "192.0.2.20"
    assert record.changes["key_description"] == [None, "RSA 2048"]


def test_a_der_file_for_the_government_hierarchy_is_accepted(admin_client):
    root = certs.issue("Government Root TEST")
    response = upload(
        admin_client, root.der, filename="gov.der", hierarchy="government", name="Ban Cơ yếu"
    )
    assert response.status_code == 302, response.content
    assert TrustedCertificate.objects.get().hierarchy == "government"


def test_a_refused_certificate_comes_back_on_the_form_in_vietnamese(admin_client):
    response = upload(admin_client, certs.issue("Weak Root TEST", key="rsa1024").pem)
    assert response.status_code == 200
    (error,) = form_errors(response)["certificate"]
    assert error.code == "weak_key"
    assert "Thông tư 15/2025/TT-BKHCN" in error.message
    assert not TrustedCertificate.objects.exists()
    assert not AuditRecord.objects.filter(object_type="trust.trustedcertificate").exists()


def test_and_in_english_for_an_operator_who_chose_english(admin_client, settings):
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = upload(
        admin_client, certs.resigned(certs.issue("Old Root TEST", key="rsa2048"), "sha1")
    )
    (error,) = form_errors(response)["certificate"]
    assert error.code == "weak_signature_algorithm"
    assert error.message.startswith("The certificate is signed with SHA-1")


def test_a_duplicate_upload_is_refused_on_the_form(admin_client):
    root = certs.issue("Root TEST")
    assert upload(admin_client, root.pem).status_code == 302
    response = upload(admin_client, root.der, filename="again.der")
    assert form_errors(response)["certificate"][0].code == "duplicate"


@pytest.mark.parametrize(
    ("filename", "data", "code"),
    [
        ("root.exe", b"MZ", "invalid_extension"),
        ("root.pem", b"x" * (64 * 1024 + 1), "too_large"),
        ("root.pem", b"not a certificate", "not_a_certificate"),
    ],
)
def test_files_that_cannot_be_certificates_are_refused(admin_client, filename, data, code):
    response = upload(admin_client, data, filename=filename)
    assert response.status_code == 200
    assert form_errors(response)["certificate"][0].code == code


def test_the_change_page_shows_what_the_certificate_says(admin_client):
    root = certs.issue("Root TEST", key="p384")
    upload(admin_client, root.pem)
    trusted = TrustedCertificate.objects.get()
    response = admin_client.get(f"{LIST_URL}{trusted.pk}/change/")
    assert response.status_code == 200
    assert list(response.context["adminform"].form.fields) == ["name", "is_enabled", "notes"]
    page = response.content.decode()
    assert "EC P-384 (secp384r1)" in page
    assert root.fingerprint[:4].upper()[:2] + ":" + root.fingerprint[2:4].upper() in page
    assert "CN=Root TEST,O=Liên Thông TEST,C=VN" in page


def test_switching_off_in_the_change_form_is_one_audited_update(admin_client, operator):
    upload(admin_client, certs.issue("Root TEST").pem)
    trusted = TrustedCertificate.objects.get()
    trusted.is_enabled = False  # the checkbox left unticked

    response = change(admin_client, trusted)

    assert response.status_code == 302, response.content
    trusted.refresh_from_db()
    assert not trusted.is_enabled
    update = AuditRecord.objects.get(action="update")
    assert (update.actor, update.source) == (operator, "admin")
    assert update.changes == {"is_enabled": [True, False]}


def test_renaming_and_switching_at_once_records_both(admin_client):
    upload(admin_client, certs.issue("Root TEST").pem)
    trusted = TrustedCertificate.objects.get()
    trusted.is_enabled = False

    change(admin_client, trusted, name="NEAC gốc (cũ)", notes="Thay bằng gốc 2026.")

    trusted.refresh_from_db()
    assert (trusted.name, trusted.is_enabled) == ("NEAC gốc (cũ)", False)
    changes = [r.changes for r in AuditRecord.objects.filter(action="update").order_by("pk")]
    assert changes == [
        {"name": ["Root TEST", "NEAC gốc (cũ)"], "notes": ["", "Thay bằng gốc 2026."]},
        {"is_enabled": [True, False]},
    ]


def test_saving_without_changes_records_nothing_about_the_switch(admin_client):
    upload(admin_client, certs.issue("Root TEST").pem)
    trusted = TrustedCertificate.objects.get()
    assert change(admin_client, trusted).status_code == 302
    assert not AuditRecord.objects.filter(action="update").exists()


def test_the_list_shows_and_filters_the_certificates(admin_client):
    upload(admin_client, certs.issue("Public Root TEST").pem, hierarchy="public")
    upload(admin_client, certs.issue("Government Root TEST").pem, hierarchy="government")
    response = admin_client.get(LIST_URL, {"hierarchy__exact": "government", "validity": "current"})
    assert response.status_code == 200
    shown = [(row.name, row.hierarchy) for row in response.context["cl"].result_list]
    assert shown == [("Government Root TEST", "government")]
    assert admin_client.get(LIST_URL, {"validity": "expired"}).context["cl"].result_count == 0


def test_actions_disable_and_enable_the_selected_certificates(admin_client):
    for name in ("Root A TEST", "Root B TEST"):
        upload(admin_client, certs.issue(name).pem)
    selected = [str(pk) for pk in TrustedCertificate.objects.values_list("pk", flat=True)]

    response = admin_client.post(
        LIST_URL, {"action": "disable_selected", "_selected_action": selected}, follow=True
    )

    assert not TrustedCertificate.objects.filter(is_enabled=True).exists()
    assert AuditRecord.objects.filter(action="update").count() == 2
    last_message = [m.message for m in response.context["messages"]][-1]
    assert "2" in last_message.split()  # "2 certificates disabled." / "Đã vô hiệu hóa 2 …"
    admin_client.post(LIST_URL, {"action": "enable_selected", "_selected_action": selected[:1]})
    assert TrustedCertificate.objects.filter(is_enabled=True).count() == 1


def test_certificates_are_disabled_never_deleted(admin_client):
    upload(admin_client, certs.issue("Root TEST").pem)
    trusted = TrustedCertificate.objects.get()
    response = admin_client.post(f"{LIST_URL}{trusted.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert TrustedCertificate.objects.exists()
