"""One dossier in the back office: what the officer reads, the moves their roles
allow at its status, and the refusals (wrong role, illegal move, stale version)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from lienthong.dossiers import services
from lienthong.dossiers.models import AttachmentKind, Dossier, Status
from lienthong.dossiers.tests.conftest import result_pdf

from .conftest import act, page_of

pytestmark = pytest.mark.django_db


def forms_on(page: str) -> set[str]:
    return {slug for slug in ("accept", "reject", "supplement", "process", "draft", "approve",
                              "stop", "return") if f'/{slug}/"' in page}  # fmt: skip


@pytest.fixture
def accepted(dossier, lan):
    return services.accept(actor=lan, dossier=dossier, expected_version=dossier.version)


@pytest.fixture
def processing(accepted, minh):
    return services.process(actor=minh, dossier=accepted, expected_version=accepted.version)


@pytest.fixture
def done(processing, hung):
    return services.approve(actor=hung, dossier=processing, expected_version=processing.version)


def test_the_page_shows_applicant_declaration_documents_history_and_deadline(
    as_user, lan, xanh, dossier
):
    response = as_user(lan).get(page_of(xanh, dossier))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Nguyễn Thị Mai" in page
    assert "001190012345" in page
    assert "Họ tên trẻ" in page and "Nguyễn Minh An" in page
    assert "20/11/2026" in page  # the date of birth, stored as 2026-11-20
    assert "giay-chung-sinh.pdf" in page
    assert "Mới đăng ký" in page or dossier.get_status_display() in page
    assert "Hạn giải quyết" in page


def test_the_one_stop_officer_is_offered_accept_reject_and_supplement(as_user, lan, xanh, dossier):
    page = as_user(lan).get(page_of(xanh, dossier)).content.decode()
    assert forms_on(page) == {"accept", "reject", "supplement"}
    assert f'name="accept-version" value="{dossier.version}"' in page


def test_a_specialist_is_offered_nothing_on_a_new_dossier(as_user, minh, xanh, dossier):
    page = as_user(minh).get(page_of(xanh, dossier)).content.decode()
    assert forms_on(page) == set()


def test_the_one_stop_officer_accepts_and_the_deadline_starts(as_user, lan, xanh, dossier):
    response = act(as_user(lan), xanh, dossier, "accept")
    assert response.status_code == 302
    assert response["Location"] == page_of(xanh, dossier)
    dossier.refresh_from_db()
    assert dossier.status == Status.ACCEPTED
    assert dossier.due_at is not None
    page = as_user(lan).get(page_of(xanh, dossier)).content.decode()
    assert "đúng hạn" in page


def test_the_one_stop_officer_rejects_with_a_reason(as_user, lan, xanh, dossier):
    response = act(as_user(lan), xanh, dossier, "reject", reason="Không thuộc thẩm quyền")
    assert response.status_code == 302
    dossier.refresh_from_db()
    assert dossier.status == Status.REJECTED
    assert dossier.events.get(action="rejected").reason == "Không thuộc thẩm quyền"


def test_a_rejection_without_a_reason_is_refused_and_changes_nothing(as_user, lan, xanh, dossier):
    response = act(as_user(lan), xanh, dossier, "reject", reason="")
    assert response.status_code == 400
    assert "Hãy nêu rõ lý do của quyết định này." in response.content.decode()
    dossier.refresh_from_db()
    assert dossier.status == Status.NEW


def test_the_one_stop_officer_asks_for_a_supplement(as_user, lan, xanh, dossier):
    response = act(as_user(lan), xanh, dossier, "supplement", reason="Thiếu giấy chứng sinh gốc")
    assert response.status_code == 302
    dossier.refresh_from_db()
    assert dossier.status == Status.SUPPLEMENT_REQUESTED
    assert "Thiếu giấy chứng sinh gốc" in as_user(lan).get(page_of(xanh, dossier)).content.decode()


def test_a_specialist_cannot_accept_and_is_told_why(as_user, minh, xanh, dossier):
    response = act(as_user(minh), xanh, dossier, "accept")
    assert response.status_code == 409
    assert "Bạn không có quyền thực hiện thay đổi này đối với hồ sơ." in response.content.decode()
    dossier.refresh_from_db()
    assert (dossier.status, dossier.version) == (Status.NEW, 1)


def test_an_illegal_move_is_refused_with_its_reason(as_user, lan, xanh, dossier):
    response = act(as_user(lan), xanh, dossier, "return")
    assert response.status_code == 409
    assert "Hồ sơ không thể chuyển từ trạng thái này sang trạng thái đó." in (
        response.content.decode()
    )
    dossier.refresh_from_db()
    assert dossier.status == Status.NEW


def test_the_specialist_processes_an_accepted_dossier(as_user, minh, xanh, accepted):
    assert forms_on(as_user(minh).get(page_of(xanh, accepted)).content.decode()) == {"process"}
    response = act(as_user(minh), xanh, accepted, "process")
    assert response.status_code == 302
    accepted.refresh_from_db()
    assert accepted.status == Status.PROCESSING


def test_the_leader_approves_without_a_result_document(as_user, hung, xanh, processing):
    page = as_user(hung).get(page_of(xanh, processing)).content.decode()
    assert forms_on(page) == {"approve", "stop"}
    assert 'enctype="multipart/form-data"' in page
    response = act(as_user(hung), xanh, processing, "approve")
    assert response.status_code == 302
    processing.refresh_from_db()
    assert processing.status == Status.DONE
    assert processing.result is None


def test_the_leader_approves_and_signs_the_pdf_result(as_user, hung, xanh, processing, xanh_key):
    client = as_user(hung)
    result = SimpleUploadedFile("ket-qua.pdf", result_pdf(), content_type="application/pdf")
    response = client.post(
        page_of(xanh, processing) + "approve/",
        {"approve-version": processing.version, "approve-result": result},
    )
    assert response.status_code == 302
    processing.refresh_from_db()
    assert processing.status == Status.DONE
    assert processing.result.kind == AttachmentKind.RESULT
    assert processing.result.original_name == "ket-qua-da-ky.pdf"
    assert processing.result_documents.get().original.original_name == "ket-qua.pdf"
    page = client.get(page_of(xanh, processing)).content.decode()
    assert f'href="/results/{processing.code}/"' in page
    assert "PAdES B-B" in page


def test_a_result_that_is_not_a_pdf_is_refused(as_user, hung, xanh, processing, xanh_key):
    result = SimpleUploadedFile("ket-qua.pdf", b"not a pdf at all", content_type="application/pdf")
    response = as_user(hung).post(
        page_of(xanh, processing) + "approve/",
        {"approve-version": processing.version, "approve-result": result},
    )
    assert response.status_code == 400
    assert "Kết quả phải là tệp PDF." in response.content.decode() or (
        "The result must be a PDF document." in response.content.decode()
    )
    processing.refresh_from_db()
    assert processing.status == Status.PROCESSING


def test_without_an_agency_key_the_approval_is_refused_clearly(as_user, hung, xanh, processing):
    result = SimpleUploadedFile("ket-qua.pdf", result_pdf(), content_type="application/pdf")
    response = as_user(hung).post(
        page_of(xanh, processing) + "approve/",
        {"approve-version": processing.version, "approve-result": result},
    )
    assert response.status_code == 503
    processing.refresh_from_db()
    assert (processing.status, processing.result_id) == (Status.PROCESSING, None)


def test_the_specialist_processes_with_the_draft_result_and_the_leader_signs_it(
    as_user, minh, hung, xanh, accepted, xanh_key
):
    draft = SimpleUploadedFile("du-thao.pdf", result_pdf(), content_type="application/pdf")
    response = as_user(minh).post(
        page_of(xanh, accepted) + "process/",
        {"process-version": accepted.version, "process-draft_result": draft},
    )
    assert response.status_code == 302
    accepted.refresh_from_db()
    assert accepted.status == Status.PROCESSING
    page = as_user(minh).get(page_of(xanh, accepted)).content.decode()
    assert forms_on(page) == {"supplement", "draft"}
    response = act(as_user(hung), xanh, accepted, "approve")
    assert response.status_code == 302
    accepted.refresh_from_db()
    assert accepted.result.original_name == "du-thao-da-ky.pdf"


def test_the_leader_stops_processing_with_a_reason(as_user, hung, xanh, processing):
    response = act(as_user(hung), xanh, processing, "stop", reason="Người nộp đã mất")
    assert response.status_code == 302
    processing.refresh_from_db()
    assert processing.status == Status.STOPPED


def test_the_one_stop_officer_returns_the_result(as_user, lan, xanh, done):
    assert forms_on(as_user(lan).get(page_of(xanh, done)).content.decode()) == {"return"}
    response = act(as_user(lan), xanh, done, "return")
    assert response.status_code == 302
    done.refresh_from_db()
    assert done.status == Status.RESULT_RETURNED


def test_a_stale_version_is_refused_and_changes_nothing(as_user, lan, xanh, dossier):
    response = act(as_user(lan), xanh, dossier, "accept", version=dossier.version + 5)
    assert response.status_code == 409
    page = response.content.decode()
    assert "Người khác vừa thay đổi hồ sơ: hãy tải lại hồ sơ rồi thử lại." in page
    assert f'name="accept-version" value="{dossier.version}"' in page
    assert Dossier.objects.get(pk=dossier.pk).status == Status.NEW


def test_the_refusal_reads_in_english_for_an_english_reader(as_user, client, minh, xanh, dossier):
    client.cookies["lienthong_language"] = "en"
    response = act(as_user(minh), xanh, dossier, "accept")
    assert "You may not make this change to the dossier." in response.content.decode()


def test_an_unknown_action_is_404(as_user, lan, xanh, dossier):
    assert act(as_user(lan), xanh, dossier, "publish").status_code == 404


def test_an_officer_of_another_agency_gets_404_on_get_and_post(as_user, nam, vang, xanh, dossier):
    client = as_user(nam)
    assert client.get(page_of(xanh, dossier)).status_code == 404
    assert act(client, xanh, dossier, "accept").status_code == 404
    # Through their own agency's address the dossier does not exist either.
    assert client.get(page_of(vang, dossier)).status_code == 404
    assert act(client, vang, dossier, "accept").status_code == 404
    assert Dossier.objects.get(pk=dossier.pk).status == Status.NEW


def test_the_citizen_gets_404_in_the_back_office(as_user, mai, xanh, dossier):
    client = as_user(mai)
    assert client.get(page_of(xanh, dossier)).status_code == 404
    assert act(client, xanh, dossier, "accept").status_code == 404


def test_an_anonymous_visitor_is_sent_to_sign_in_on_get_and_post(client, xanh, dossier):
    for response in (client.get(page_of(xanh, dossier)), act(client, xanh, dossier, "accept")):
        assert response.status_code == 302
        assert response["Location"].startswith("/account/sign-in/")
    assert Dossier.objects.get(pk=dossier.pk).status == Status.NEW
