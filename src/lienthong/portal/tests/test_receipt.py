"""The receipt ("Giấy tiếp nhận hồ sơ và hẹn trả kết quả"): its content, in
Vietnamese letters a reader can copy, and who may download it."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
import segno
import time_machine

from lienthong.dossiers import receipts, services
from lienthong.portal.tests.conftest import BINH_ID, MAI_ID, submitted
from lienthong.portal.tests.pdftext import pdf_text

pytestmark = pytest.mark.django_db

VN = zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh")
# Monday 7 December 2026, 09:30 in Hà Nội.
MONDAY = dt.datetime(2026, 12, 7, 9, 30, tzinfo=VN)


@pytest.fixture
def dossier(mai, procedure, xanh):
    with time_machine.travel(MONDAY, tick=False):
        return submitted(mai, procedure, xanh)


def test_it_names_the_agency_the_dossier_the_procedure_and_the_applicant(dossier):
    text = pdf_text(receipts.receipt_pdf(dossier))

    assert "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in text
    assert "UBND PHƯỜNG XANH (THỬ NGHIỆM)" in text
    assert dossier.code in text
    assert "Đăng ký khai sinh (thử nghiệm)" in text
    assert "Nguyễn Thị Mai" in text
    assert MAI_ID in text
    assert "Trực tuyến" in text
    assert "09 giờ 30 phút, ngày 07/12/2026" in text


def test_it_lists_the_documents_received(dossier):
    text = pdf_text(receipts.receipt_pdf(dossier))

    assert "1. Giấy chứng sinh: giay-chung-sinh.pdf" in text


def test_before_acceptance_the_appointment_is_the_provisional_deadline(dossier):
    # Three working days from Monday morning: the end of Thursday's working day.
    text = pdf_text(receipts.receipt_pdf(dossier))

    assert "Dự kiến 17 giờ 00 phút, ngày 10/12/2026" in text
    assert "ngày hẹn chính thức được tính khi cơ quan" in text


def test_once_accepted_the_appointment_is_the_deadline(dossier, lan):
    with time_machine.travel(MONDAY + dt.timedelta(days=1), tick=False):
        accepted = services.accept(actor=lan, dossier=dossier, expected_version=dossier.version)

    text = pdf_text(receipts.receipt_pdf(accepted))

    assert accepted.due_at is not None
    assert "Ngày hẹn trả kết quả" in text
    assert f"{accepted.due_at.astimezone(VN):%H} giờ" in text
    assert "11/12/2026" in text  # Tuesday + 3 working days
    assert "Dự kiến" not in text


def test_the_qr_code_carries_the_lookup_address(dossier):
    url = f"https://dichvucong.example.vn/dossiers/lookup/?code={dossier.code}"
    flowable = receipts.QRCode(url, 100)

    assert flowable.code == segno.make(url, error="m", micro=False)
    # A long address may wrap on the paper: compared without the line breaks.
    assert url in "".join(pdf_text(receipts.receipt_pdf(dossier, lookup_url=url)).split())


def test_the_applicant_downloads_it_from_the_portal(signed_in, dossier):
    client = signed_in(MAI_ID)

    response = client.get(f"/dossiers/{dossier.code}/receipt.pdf")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f'filename="giay-tiep-nhan-{dossier.code}.pdf"' in response["Content-Disposition"]
    text = pdf_text(response.content)
    assert dossier.code in text
    assert f"http://testserver/dossiers/lookup/?code={dossier.code}" in "".join(text.split())


def test_the_dossier_page_links_to_the_receipt(signed_in, dossier):
    client = signed_in(MAI_ID)

    page = client.get(f"/dossiers/{dossier.code}/").content.decode()

    assert f'href="/dossiers/{dossier.code}/receipt.pdf"' in page


def test_nobody_else_gets_the_receipt(client, signed_in, binh, dossier):
    anonymous = client.get(f"/dossiers/{dossier.code}/receipt.pdf")
    assert anonymous.status_code == 302

    other = signed_in(BINH_ID).get(f"/dossiers/{dossier.code}/receipt.pdf")
    assert other.status_code == 404


def test_documents_handed_in_later_are_listed_too(dossier, mai, lan):
    from lienthong.portal.tests.conftest import pdf

    with time_machine.travel(MONDAY + dt.timedelta(hours=2), tick=False):
        asked = services.request_supplement(
            actor=lan, dossier=dossier, reason="Thiếu bản sao CCCD", expected_version=1
        )
        services.answer_supplement(
            actor=mai, dossier=asked, files=[pdf("cccd.pdf")], expected_version=asked.version
        )

    text = pdf_text(receipts.receipt_pdf(dossier))

    assert "2. Hồ sơ bổ sung: cccd.pdf" in text


def test_printed_without_a_request_it_points_to_the_receiving_agencys_node(dossier, xanh):
    from lienthong.directory.models import Node

    xanh.node = Node.objects.create(
        identifier="node.xanh.test",
        name="Nút thử",
        role="provincial",
        base_url="https://xanh.test/",
    )
    xanh.save(update_fields=["node"])
    dossier.refresh_from_db()

    text = "".join(pdf_text(receipts.receipt_pdf(dossier)).split())

    assert f"https://xanh.test/dossiers/lookup/?code={dossier.code}" in text
