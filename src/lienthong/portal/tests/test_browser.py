"""The citizen's journey in a real Chromium: sign in, open a procedure, choose the
receiving agency, fill the declaration, attach the form, submit, read the code,
download the receipt, find the dossier in "my dossiers", open it, look it up by
code and phone number, and, once the agency decided, rate the handling; every
page meets WCAG 2.1 AA.

The live server writes (the sign-in, the dossier), so this test does not run in
pytest-django's rolled-back transaction, whose lock would hold the server's
writes back on SQLite: it commits its own persona, and removes the dossiers
and day counters the journey made afterwards (audit records stay, as always).
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import F
from django.utils import timezone

from lienthong.directory.models import AdministrativeUnit, UnitLevel
from lienthong.dossiers.models import Dossier, DossierCounter, Status
from lienthong.identity import services
from lienthong.portal import ratings
from lienthong.portal.models import Rating
from lienthong.portal.tests.conftest import PASSWORD, PDF
from lienthong.portal.tests.pdftext import pdf_text
from lienthong.testing.browser import assert_accessible

pytestmark = pytest.mark.browser

PERSONAL_ID = "079195004322"  # Chị Thu, born 1995 in Hồ Chí Minh City
BIRTH_REGISTRATION = "1.001193"
BIRTH_GROUP = "LT.900001"  # birth → permanent residence → health-insurance card
HA_NOI = "01"


@pytest.mark.django_db
def test_the_interconnected_journey_starts_with_birth_registration():
    # Also makes pytest-django create the test database when this module runs
    # alone: it sets up only the databases that collected tests ask for.
    from lienthong.catalog.models import InterconnectedProcedure

    group = InterconnectedProcedure.objects.get(code=BIRTH_GROUP)
    first = group.steps.order_by("position").first()
    assert first.procedure.code == BIRTH_REGISTRATION


@pytest.fixture
def thu(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        account = services.create_account(
            actor="test",
            kind="citizen",
            display_name="Phan Thị Thu",
            personal_id=PERSONAL_ID,
            password=PASSWORD,
            phone="0901234567",
            source="test",
        )
        counters = set(DossierCounter.objects.values_list("pk", flat=True))
    yield account.user
    with django_db_blocker.unblock():
        Dossier.objects.filter(applicant=account.user).delete()
        DossierCounter.objects.exclude(pk__in=counters).delete()
        # Retired rather than deleted: a delete would cascade into other apps' tables.
        account.delete()
        get_user_model().objects.filter(pk=account.user.pk).update(
            is_active=False, username=f"retired-{account.user.pk}"
        )
        # These connections live outside pytest-django's bookkeeping: close them,
        # or PostgreSQL refuses to drop the test database at the end of the run.
        connections.close_all()


@pytest.fixture
def citizen_page(browser, browser_server):
    context = browser.new_context(locale="vi-VN", base_url=browser_server)
    yield context.new_page()
    context.close()


def a_commune_of_ha_noi() -> str:
    return (
        AdministrativeUnit.objects.current()
        .filter(level=UnitLevel.COMMUNE, parent__code=HA_NOI)
        .order_by("name")
        .first()
        .code
    )


def test_a_citizen_submits_a_birth_registration_and_follows_it(
    citizen_page, thu, django_db_blocker
):
    # pytest-django blocks the database again for the test call itself; the
    # server thread answering the browser needs it open.
    with django_db_blocker.unblock():
        walk_the_journey(citizen_page, a_commune_of_ha_noi(), thu)


def test_a_citizen_starts_the_interconnected_birth_procedure(citizen_page, thu, django_db_blocker):
    with django_db_blocker.unblock():
        page = citizen_page
        sign_in(page)
        submit_a_birth_registration(
            page, f"/dossiers/new/interconnected/{BIRTH_GROUP}/", a_commune_of_ha_noi()
        )
        dossier = Dossier.objects.get(applicant=thu)
        assert (dossier.interconnected.code, dossier.step.position) == (BIRTH_GROUP, 1)
        steps = page.locator("section[aria-labelledby=steps-heading] tbody tr")
        assert steps.count() == 3
        assert dossier.receiving_agency.name in steps.first.inner_text()
        assert_accessible(page)


def sign_in(page) -> None:
    page.goto("/account/sign-in/")
    page.fill("#id_identifier", PERSONAL_ID)
    page.fill("#id_password", PASSWORD)
    page.locator("main form:not([data-passkey]) button[type=submit]").click()
    page.wait_for_url("**/account/")


def walk_the_journey(page, commune_code: str, thu) -> None:
    sign_in(page)
    page.goto(f"/procedures/{BIRTH_REGISTRATION}/")
    assert_accessible(page)

    submit_a_birth_registration(page, f"/dossiers/new/{BIRTH_REGISTRATION}/", commune_code)
    code = Dossier.objects.get(applicant=thu).code
    assert f"Mã hồ sơ là {code}." in page.locator("main").inner_text()
    follow_the_dossier(page, code)
    download_the_receipt(page, code)
    rate_the_handling(page, code)


def submit_a_birth_registration(page, start: str, commune_code: str) -> None:
    """From ``start`` (a procedure's or an interconnected group's submission page):
    the agency in Hà Nội, the declaration, the form attached, submitted."""
    page.goto(start)
    assert_accessible(page)
    page.get_by_label("Tỉnh, thành phố trực thuộc trung ương").select_option(HA_NOI)
    page.get_by_role("button", name="Xem các cơ quan").click()
    page.get_by_label("Cơ quan tiếp nhận").wait_for()
    assert_accessible(page)
    page.get_by_role("button", name="Tiếp tục").click()
    page.get_by_role("heading", level=1).filter(has_text="Nộp hồ sơ trực tuyến").wait_for()
    assert_accessible(page)

    page.fill("#id_child_name", "Phan Minh Khang")
    page.fill("#id_child_birth_date", "25/11/2026")
    page.select_option("#id_child_sex", "nam")
    page.fill("#id_child_birth_place", "Bệnh viện Phụ sản Hà Nội")
    page.fill("#id_mother_name", "Phan Thị Thu")
    page.fill("#id_mother_id", PERSONAL_ID)
    assert page.input_value("#id_applicant_id") == PERSONAL_ID  # from the account
    page.fill("#id_applicant_address__street", "12 phố Hàng Bạc")
    # The province first: htmx replaces the commune list with that province's communes.
    page.select_option("#id_applicant_address__province", HA_NOI)
    page.locator(f"#id_applicant_address__commune option[value='{commune_code}']").wait_for(
        state="attached"
    )
    page.select_option("#id_applicant_address__commune", commune_code)
    page.locator("input[type=file]").first.set_input_files(
        {"name": "to-khai.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    page.get_by_role("button", name="Nộp hồ sơ").click()
    page.wait_for_url(re.compile(r"/dossiers/[0-9A-Z.]+-\d{6}-\d{4}/$"))
    assert_accessible(page)


def follow_the_dossier(page, code: str) -> None:
    page.get_by_role("link", name="Hồ sơ của tôi").first.click()
    page.wait_for_url("**/dossiers/")
    assert_accessible(page)
    page.get_by_role("link", name=code).click()
    page.wait_for_url(f"**/dossiers/{code}/")
    assert page.locator("h1").inner_text() == f"Hồ sơ {code}"
    assert "to-khai.pdf" in page.locator("main").inner_text()
    assert_accessible(page)

    page.goto("/dossiers/lookup/")
    page.get_by_label("Mã hồ sơ").fill(code)
    page.get_by_label("Số điện thoại hoặc số định danh cá nhân đã khai trong hồ sơ").fill(
        "0901234567"
    )
    page.get_by_role("button", name="Tra cứu", exact=True).click()
    page.get_by_role("heading", name=f"Hồ sơ {code}").wait_for()
    assert_accessible(page)


def download_the_receipt(page, code: str) -> None:
    page.goto(f"/dossiers/{code}/")
    with page.expect_download() as download:
        page.locator(f'a[href="/dossiers/{code}/receipt.pdf"]').click()
    text = pdf_text(download.value.path().read_bytes())
    assert "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in text
    assert code in text
    assert "Phan Thị Thu" in text


def rate_the_handling(page, code: str) -> None:
    # The agency's side is the back office's journey: here the dossier is put
    # where the leader's approval leaves it (status 9, decided now).
    Dossier.objects.filter(code=code).update(
        status=Status.DONE, finished_at=timezone.now(), version=F("version") + 1
    )
    page.goto(f"/dossiers/{code}/")
    assert_accessible(page)
    page.locator(f'a[href="/dossiers/{code}/rating/"]').click()
    page.wait_for_url(f"**/dossiers/{code}/rating/")
    assert_accessible(page)
    for key in ratings.KEYS:
        page.locator(f'input[name="{key}"][value="{ratings.VERY_SATISFIED}"]').check()
    page.locator('input[name="overall"][value="1"]').check()
    page.fill("textarea[name=comment]", "Cán bộ hướng dẫn tận tình.")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"**/dossiers/{code}/")
    assert_accessible(page)
    rating = Rating.objects.get(dossier__code=code)
    assert rating.score == ratings.MAX_SCORE - 1
    assert rating.comment == "Cán bộ hướng dẫn tận tình."
