"""The signed result on the applicant's dossier page: download it, verify it with
the trust service; and the choice of delivery by public post while it is open."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from lienthong.audit.models import AuditRecord
from lienthong.dossiers.errors import DossierConflict
from lienthong.dossiers.models import ResultDelivery, Status
from lienthong.dossiers.tests.conftest import import_agency_key, result_pdf
from lienthong.portal import services
from lienthong.portal.errors import PortalConflict
from lienthong.portal.tests.conftest import BINH_ID, MAI_ID, decided, submitted
from lienthong.trust.models import ValidationRecord
from lienthong.trust.validation.report import Indication

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed(mai, procedure, xanh, lan, minh, hoa, trusted_test_pki, settings):
    """Mai's dossier, approved by chị Hoa with a result sealed by Phường Xanh's key."""
    settings.TSA_URL = ""
    settings.DOSSIERS_MAX_ATTACHMENT_BYTES = 1024 * 1024
    import_agency_key(trusted_test_pki, xanh)
    upload = SimpleUploadedFile("giay-khai-sinh.pdf", result_pdf(), "application/pdf")
    return decided(submitted(mai, procedure, xanh), lan=lan, minh=minh, hoa=hoa, result=upload)


def test_the_dossier_page_offers_the_signed_result_and_its_verification(signed_in, english, signed):
    page = signed_in(MAI_ID).get(f"/dossiers/{signed.code}/").content.decode()

    assert f'href="/results/{signed.code}/"' in page
    assert f'action="/results/{signed.code}/verify/"' in page
    assert "Signed by" in page


def test_the_applicant_downloads_the_signed_pdf(signed_in, signed):
    response = signed_in(MAI_ID).get(f"/results/{signed.code}/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    content = b"".join(response.streaming_content) if response.streaming else response.content
    assert content.startswith(b"%PDF-")
    assert b"/ByteRange" in content  # a signature dictionary


def test_verifying_opens_the_trust_report_which_passes(signed_in, signed):
    client = signed_in(MAI_ID)

    response = client.post(f"/results/{signed.code}/verify/")

    record = ValidationRecord.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/trust/reports/{record.pk}/"
    assert record.indication == Indication.TOTAL_PASSED
    assert client.get(response["Location"]).status_code == 200


def test_a_dossier_without_result_offers_neither(signed_in, english, mai, procedure, xanh):
    dossier = submitted(mai, procedure, xanh)

    page = signed_in(MAI_ID).get(f"/dossiers/{dossier.code}/").content.decode()

    assert "/results/" not in page


def test_another_citizen_gets_neither_the_result_nor_its_verification(signed_in, binh, signed):
    client = signed_in(BINH_ID)

    assert client.get(f"/results/{signed.code}/").status_code == 404
    assert client.post(f"/results/{signed.code}/verify/").status_code == 404
    assert ValidationRecord.objects.count() == 0


# --- Delivery by public post ------------------------------------------------------------------


@pytest.fixture
def dossier(mai, procedure, xanh):
    return submitted(mai, procedure, xanh)


def test_the_applicant_asks_for_the_result_by_post(mai, dossier):
    changed = services.choose_result_delivery(
        actor=mai,
        dossier=dossier,
        delivery=ResultDelivery.POST,
        address="12 phố Hàng Bạc, Phường Hoàn Kiếm, Hà Nội",
        expected_version=dossier.version,
    )

    assert changed.result_delivery == ResultDelivery.POST
    assert changed.delivery_address == "12 phố Hàng Bạc, Phường Hoàn Kiếm, Hà Nội"
    assert changed.version == dossier.version + 1
    record = AuditRecord.objects.get(action="choose_delivery")
    assert record.changes["result_delivery"] == [ResultDelivery.COUNTER, ResultDelivery.POST]


def test_by_post_without_any_address_is_refused(mai, dossier):
    assert dossier.applicant_address == ""
    with pytest.raises(DossierConflict) as refused:
        services.choose_result_delivery(
            actor=mai, dossier=dossier, delivery=ResultDelivery.POST, expected_version=1
        )
    assert refused.value.code == "delivery_address_required"


def test_by_post_defaults_to_the_address_declared(mai, dossier):
    type(dossier).objects.filter(pk=dossier.pk).update(applicant_address="5 Lê Lợi, Huế")

    changed = services.choose_result_delivery(
        actor=mai, dossier=dossier, delivery=ResultDelivery.POST, expected_version=1
    )

    assert changed.delivery_address == "5 Lê Lợi, Huế"


def test_back_to_the_counter_forgets_the_address(mai, dossier):
    by_post = services.choose_result_delivery(
        actor=mai, dossier=dossier, delivery=ResultDelivery.POST, address="x", expected_version=1
    )
    counter = services.choose_result_delivery(
        actor=mai, dossier=by_post, delivery=ResultDelivery.COUNTER, expected_version=2
    )
    assert (counter.result_delivery, counter.delivery_address) == (ResultDelivery.COUNTER, "")


def test_a_stale_form_changes_nothing(mai, dossier):
    with pytest.raises(DossierConflict) as refused:
        services.choose_result_delivery(
            actor=mai,
            dossier=dossier,
            delivery=ResultDelivery.POST,
            address="x",
            expected_version=7,
        )
    assert refused.value.code == "stale_dossier"
    dossier.refresh_from_db()
    assert dossier.result_delivery == ResultDelivery.COUNTER


def test_once_the_result_is_handed_over_the_choice_is_closed(mai, dossier, lan, minh, hoa):
    returned = decided(dossier, lan=lan, minh=minh, hoa=hoa, returned=True)
    assert returned.status == Status.RESULT_RETURNED

    with pytest.raises(PortalConflict) as refused:
        services.choose_result_delivery(
            actor=mai,
            dossier=returned,
            delivery=ResultDelivery.POST,
            address="x",
            expected_version=returned.version,
        )
    assert refused.value.code == "delivery_closed"


def test_only_the_applicant_chooses(binh, lan, dossier):
    for someone in (binh, lan):
        with pytest.raises(DossierConflict) as refused:
            services.choose_result_delivery(
                actor=someone,
                dossier=dossier,
                delivery=ResultDelivery.POST,
                address="x",
                expected_version=1,
            )
        assert refused.value.code == "not_allowed"


def test_the_choice_through_the_dossier_page(signed_in, english, dossier):
    client = signed_in(MAI_ID)
    page = client.get(f"/dossiers/{dossier.code}/").content.decode()
    assert f'action="/dossiers/{dossier.code}/delivery/"' in page

    response = client.post(
        f"/dossiers/{dossier.code}/delivery/",
        {"version": dossier.version, "delivery": "3", "address": "12 phố Hàng Bạc, Hà Nội"},
    )

    assert response.status_code == 302
    dossier.refresh_from_db()
    assert dossier.result_delivery == ResultDelivery.POST
    detail = client.get(f"/dossiers/{dossier.code}/").content.decode()
    assert "Sent by public post: 12 phố Hàng Bạc, Hà Nội" in detail


def test_a_refused_choice_is_explained_on_the_page(signed_in, english, dossier):
    response = signed_in(MAI_ID).post(
        f"/dossiers/{dossier.code}/delivery/",
        {"version": dossier.version, "delivery": "3", "address": ""},
    )

    assert response.status_code == 409
    assert "Give the address the result is to be posted to." in response.content.decode()


def test_another_citizen_cannot_choose(signed_in, binh, dossier):
    response = signed_in(BINH_ID).post(
        f"/dossiers/{dossier.code}/delivery/",
        {"version": dossier.version, "delivery": "3", "address": "x"},
    )
    assert response.status_code == 404
    dossier.refresh_from_db()
    assert dossier.result_delivery == ResultDelivery.COUNTER
