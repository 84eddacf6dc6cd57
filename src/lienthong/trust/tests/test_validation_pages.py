"""The public validation page, the report downloads and the API."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from lienthong.trust.models import RevocationAnswer, ValidationRecord
from lienthong.trust.tests import documents

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed(trusted_test_pki):
    return documents.signed_pdf(trusted_test_pki, "officer")


def test_anyone_uploads_a_pdf_and_reads_the_report_in_vietnamese(client, signed):
    response = client.post(
        "/trust/validate/", {"document": SimpleUploadedFile("ket-qua.pdf", signed)}
    )
    assert response.status_code == 302
    record = ValidationRecord.objects.get()
    assert response["Location"] == f"/trust/reports/{record.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "Chữ ký số hợp lệ" in page
    assert "TOTAL-PASSED" in page
    assert "Chuyên dùng Chính phủ" in page
    assert "CCCD:001190000002" in page


def test_the_report_reads_in_english_too(client, signed):
    client.post("/trust/validate/", {"document": SimpleUploadedFile("x.pdf", signed)})
    record = ValidationRecord.objects.get()
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    page = client.get(f"/trust/reports/{record.pk}/").content.decode()
    assert "The signature is valid" in page
    assert "Government (Government Cipher Committee)" in page


def test_the_report_downloads_as_json_and_as_pdf(client, signed):
    client.post("/trust/validate/", {"document": SimpleUploadedFile("x.pdf", signed)})
    record = ValidationRecord.objects.get()
    as_json = client.get(f"/trust/reports/{record.pk}/report.json")
    assert as_json["Content-Disposition"].startswith("attachment")
    body = json.loads(as_json.content)
    assert body["indication"] == "TOTAL-PASSED"
    assert body["signatures"][0]["hierarchy"] == "government"
    as_pdf = client.get(f"/trust/reports/{record.pk}/report.pdf")
    assert as_pdf["Content-Type"] == "application/pdf"
    assert as_pdf.content.startswith(b"%PDF-")
    assert b"DejaVuSans" in as_pdf.content  # Vietnamese glyphs embedded


def test_the_document_itself_is_not_kept(client, signed):
    client.post("/trust/validate/", {"document": SimpleUploadedFile("x.pdf", signed)})
    record = ValidationRecord.objects.get()
    assert signed[:200] not in json.dumps(record.report_data).encode()


def test_an_expired_or_unknown_report_is_404(client):
    assert client.get("/trust/reports/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_a_missing_file_comes_back_on_the_form(client):
    response = client.post("/trust/validate/", {})
    assert response.status_code == 400
    assert response.context["form"].errors["document"]


def test_an_oversized_upload_is_refused_on_the_form(client, settings):
    settings.TRUST_MAX_DOCUMENT_BYTES = 100
    response = client.post(
        "/trust/validate/", {"document": SimpleUploadedFile("x.pdf", b"%PDF-" + b"0" * 500)}
    )
    assert response.status_code == 400
    assert response.context["form"].errors.as_data()["document"][0].code == "too_large"
    assert not ValidationRecord.objects.exists()


def test_revocation_answers_are_cached_until_their_next_update(client, signed):
    client.post("/trust/validate/", {"document": SimpleUploadedFile("x.pdf", signed)})
    cached = RevocationAnswer.objects.usable()
    assert cached.exists()
    assert all(a.next_update > a.this_update for a in cached)


def test_the_api_validates_and_links_the_downloads(client, signed):
    response = client.post(
        "/api/v1/signatures/validate", {"document": SimpleUploadedFile("x.pdf", signed)}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["report"]["indication"] == "TOTAL-PASSED"
    assert body["pdf_url"].endswith("/report.pdf")
    again = client.get(f"/api/v1/signatures/reports/{body['id']}")
    assert again.json()["report"] == body["report"]


def test_the_api_refuses_an_oversized_file_with_413(client, settings):
    settings.TRUST_MAX_DOCUMENT_BYTES = 100
    response = client.post(
        "/api/v1/signatures/validate", {"document": SimpleUploadedFile("x.pdf", b"0" * 500)}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "document_too_large"


def test_the_public_page_is_rate_limited_per_address(client, settings, signed):
    settings.TRUST_VALIDATION_RATE = "2/m"
    codes = [
        client.post(
            "/trust/validate/", {"document": SimpleUploadedFile("x.pdf", b"%PDF-1.7")}
        ).status_code
        for _ in range(3)
    ]
    assert codes[-1] == 429


def test_the_validate_command_prints_the_report_and_exits_by_indication(
    trusted_test_pki, tmp_path, capsys
):
    from django.core.management import call_command

    good = tmp_path / "good.pdf"
    good.write_bytes(documents.signed_pdf(trusted_test_pki, "citizen"))
    call_command("validate", str(good))
    out = capsys.readouterr().out
    assert out.startswith("Chữ ký số hợp lệ (TOTAL-PASSED)")
    assert "CCCD:001099000001" in out

    bad = tmp_path / "bad.pdf"
    bad.write_bytes(documents.plain_pdf())
    with pytest.raises(SystemExit) as exit_info:
        call_command("validate", str(bad), "--json")
    assert exit_info.value.code == 1
    assert json.loads(capsys.readouterr().out)["reasons"][0]["code"] == "no_signature"


def test_purge_removes_expired_reports_only(client, signed):
    import datetime as dt

    from django.core.management import call_command
    from django.utils import timezone

    client.post("/trust/validate/", {"document": SimpleUploadedFile("x.pdf", signed)})
    client.post("/trust/validate/", {"document": SimpleUploadedFile("y.pdf", signed)})
    old = ValidationRecord.objects.first()
    ValidationRecord.objects.filter(pk=old.pk).update(
        expires_at=timezone.now() - dt.timedelta(days=1)
    )
    call_command("trust", "purge")
    assert list(ValidationRecord.objects.values_list("document_name", flat=True)) != []
    assert not ValidationRecord.objects.filter(pk=old.pk).exists()
    assert ValidationRecord.objects.count() == 1
