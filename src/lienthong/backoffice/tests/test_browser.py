"""The officers' journey in a real Chromium: the one-stop officer signs in with a
password and an authenticator code, takes a paper birth registration at the
counter for a person without an account and accepts it; the specialist processes
it with the draft result; the leader approves, which signs the result as PAdES
B-T with the commune's key held by the node, and verifies it; the one-stop
officer returns the result. Every page visited meets WCAG 2.1 AA.

As in the portal's browser test, the live server writes, so the personas are
committed and removed afterwards (audit records stay, as always).
"""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from django.contrib.auth import get_user_model
from django.db import connections

from lienthong.catalog.models import Procedure
from lienthong.directory.models import AdministrativeUnit, UnitLevel
from lienthong.dossiers.models import Dossier, DossierCounter, ResultDocument, Status
from lienthong.dossiers.tests.conftest import import_agency_key, result_pdf
from lienthong.identity import factors
from lienthong.identity import services as identity
from lienthong.identity.models import OfficerRole, Role
from lienthong.testing.browser import assert_accessible

PASSWORD = "correct horse battery staple"
BIRTH_REGISTRATION = "1.001193"
APPLICANT_ID = "001090011111"  # anh Cường, who has no account


@pytest.fixture(autouse=True)
def portal_settings(settings, tmp_path):
    """The back office tests' settings, without their cache clearing: this test
    reaches the database only through ``django_db_blocker``."""
    settings.DOSSIERS_STORAGE_DIR = tmp_path / "store"
    settings.DOSSIERS_NOTIFY_BACKENDS = ["memory"]
    settings.DOSSIERS_MAX_ATTACHMENT_BYTES = 1024 * 1024
    settings.DOSSIERS_ACCEPTED_TYPES = ["pdf", "jpg", "png"]
    return settings


@pytest.mark.django_db
def test_the_journeys_procedure_is_handled_by_commune_committees():
    # Also makes pytest-django create the test database when this module runs
    # alone: it sets up only the databases that collected tests ask for.
    procedure = Procedure.objects.get(code=BIRTH_REGISTRATION)
    assert procedure.agencies.exists()


@pytest.fixture
def commune_office(django_db_setup, django_db_blocker, test_pki, settings):
    """A commune People's Committee that registers births, with its three officers
    (each with an authenticator app) and its signing key on the node."""
    settings.TSA_URL = test_pki.tsa_url
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with django_db_blocker.unblock():
        procedure = Procedure.objects.get(code=BIRTH_REGISTRATION)
        agency = procedure.agencies.order_by("identifier").first()
        commune = (
            AdministrativeUnit.objects.current()
            .filter(level=UnitLevel.COMMUNE, parent__code="01")
            .order_by("name")
            .first()
        )
        counters = set(DossierCounter.objects.values_list("pk", flat=True))
        officers, totps = {}, {}
        for username, name, role in (
            ("lan.browser", "Phạm Thị Lan", Role.ONE_STOP_OFFICER),
            ("minh.browser", "Lê Văn Minh", Role.SPECIALIST),
            ("hoa.browser", "Đỗ Thị Hoa", Role.LEADER),
        ):
            account = identity.create_account(
                actor="test",
                kind="officer",
                display_name=name,
                username=username,
                password=PASSWORD,
                source="test",
            )
            identity.grant_role(
                actor="test", user=account.user, agency=agency, role=role, source="test"
            )
            device = factors.start_totp_enrolment(user=account.user)
            totp = pyotp.TOTP(factors.totp_secret(device))
            # Enrolled with the previous step's code: each step is accepted once,
            # and the sign-in below uses the current one.
            previous = totp.at(time.time() - factors.TOTP_STEP)
            assert factors.confirm_totp(user=account.user, code=previous, source="test")
            officers[username], totps[username] = account, totp
        key = import_agency_key(test_pki, agency)
    yield {"agency": agency, "commune": commune, "officers": officers, "totps": totps}
    with django_db_blocker.unblock():
        Dossier.objects.filter(receiving_agency=agency).exclude(pk__in=[]).filter(
            submitted_at__isnull=False, applicant_id_number=APPLICANT_ID
        ).delete()
        DossierCounter.objects.exclude(pk__in=counters).delete()
        key.delete()
        for account in officers.values():
            user = account.user
            OfficerRole.objects.filter(user=user).delete()
            account.delete()
            get_user_model().objects.filter(pk=user.pk).update(
                is_active=False, username=f"retired-{user.pk}"
            )
        connections.close_all()


def signed_in(browser, base_url, office, username):
    """A page of ``username``'s own browser, signed in with password and authenticator code."""
    context = browser.new_context(locale="vi-VN", base_url=base_url)
    page = context.new_page()
    page.goto("/account/sign-in/")
    page.fill("#id_identifier", username)
    page.fill("#id_password", PASSWORD)
    page.locator("main form:not([data-passkey]) button[type=submit]").click()
    page.wait_for_url("**/account/sign-in/verify/")
    assert_accessible(page)
    page.fill("#id_code", office["totps"][username].now())
    page.locator("main form:not([data-passkey]) button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/account/$"))
    return context, page


@pytest.mark.browser
def test_officers_take_process_sign_and_return_a_counter_dossier(
    browser, browser_server, commune_office, django_db_blocker
):
    with django_db_blocker.unblock():
        walk(browser, browser_server, commune_office)


def walk(browser, base_url, office) -> None:
    agency = office["agency"]
    contexts = []
    try:
        # The one-stop officer receives the paper dossier and accepts it.
        context, lan = signed_in(browser, base_url, office, "lan.browser")
        contexts.append(context)
        lan.goto("/backoffice/")
        assert_accessible(lan)
        lan.get_by_role("link", name=agency.name).click()
        lan.get_by_role("link", name="Receive a dossier at the counter").or_(
            lan.get_by_role("link", name="Tiếp nhận hồ sơ tại quầy")
        ).click()
        assert_accessible(lan)
        lan.locator(f"a[href$='/intake/{BIRTH_REGISTRATION}/']").click()
        lan.wait_for_url(f"**/intake/{BIRTH_REGISTRATION}/")
        assert_accessible(lan)
        lan.fill("#id_counter-name", "Hoàng Văn Cường")
        lan.fill("#id_counter-id_number", APPLICANT_ID)
        lan.fill("#id_counter-phone", "0911111111")
        lan.fill("#id_counter-address__street", "5 ngõ Huế")
        # The province first: htmx replaces the commune list with that province's communes.
        commune = office["commune"]
        lan.select_option("#id_counter-address__province", "01")  # the commune's (Hà Nội)
        lan.locator(f"#id_counter-address__commune option[value='{commune.code}']").wait_for(
            state="attached"
        )
        lan.select_option("#id_counter-address__commune", commune.code)
        lan.fill("#id_child_name", "Hoàng Minh Khang")
        lan.fill("#id_child_birth_date", "25/11/2026")
        lan.select_option("#id_child_sex", "nam")
        lan.fill("#id_child_birth_place", "Bệnh viện Phụ sản Hà Nội")
        lan.fill("#id_mother_name", "Nguyễn Thị Hạnh")
        lan.fill("#id_mother_id", "001192022222")
        lan.locator("input[type=file]").first.set_input_files(
            {"name": "to-khai.pdf", "mimeType": "application/pdf", "buffer": result_pdf("To khai")}
        )
        lan.check("#id_counter-accept_now")
        lan.locator("main form.upload button[type=submit]").click()
        lan.wait_for_url(re.compile(r"/dossiers/[0-9A-Z.]+-\d{6}-\d{4}/$"))
        dossier = Dossier.objects.get(applicant_id_number=APPLICANT_ID, receiving_agency=agency)
        assert (dossier.channel, dossier.status, dossier.applicant_id) == (1, Status.ACCEPTED, None)
        assert dossier.code in lan.locator("main").inner_text()
        assert_accessible(lan)
        receipt = lan.request.get(
            f"/backoffice/{agency.identifier}/dossiers/{dossier.code}/receipt/"
        )
        assert receipt.status == 200 and receipt.body().startswith(b"%PDF-")
        detail = f"/backoffice/{agency.identifier}/dossiers/{dossier.code}/"

        # The specialist processes it and attaches the draft result.
        context, minh = signed_in(browser, base_url, office, "minh.browser")
        contexts.append(context)
        minh.goto(detail)
        assert_accessible(minh)
        minh.locator("#id_process-draft_result").set_input_files(
            {"name": "giay-khai-sinh.pdf", "mimeType": "application/pdf",
             "buffer": result_pdf("Giay khai sinh")}
        )  # fmt: skip
        minh.locator("form[action$='/process/'] button[type=submit]").click()
        minh.wait_for_url(f"**{detail}")
        assert_accessible(minh)
        dossier.refresh_from_db()
        assert dossier.status == Status.PROCESSING

        # The leader approves: the draft is signed with the commune's key (B-T).
        context, hoa = signed_in(browser, base_url, office, "hoa.browser")
        contexts.append(context)
        hoa.goto(detail)
        assert_accessible(hoa)
        hoa.locator("form[action$='/approve/'] button[type=submit]").click()
        hoa.wait_for_url(f"**{detail}")
        assert_accessible(hoa)
        dossier.refresh_from_db()
        assert dossier.status == Status.DONE
        signed = ResultDocument.objects.get(dossier=dossier)
        assert (signed.level, signed.approved_by_label) == ("B-T", "Đỗ Thị Hoa")
        assert "giay-khai-sinh-da-ky.pdf" in hoa.locator("main").inner_text()
        hoa.locator("form[action$='/verify/'] button[type=submit]").click()
        hoa.wait_for_url("**/trust/reports/**")
        assert_accessible(hoa)

        # The one-stop officer returns the result at the counter.
        lan.goto(detail)
        lan.locator("form[action$='/return/'] button[type=submit]").click()
        lan.wait_for_url(f"**{detail}")
        assert_accessible(lan)
        dossier.refresh_from_db()
        assert dossier.status == Status.RESULT_RETURNED

        # The agency's payments to refund (none here), linked from its queue.
        lan.goto(f"/backoffice/{agency.identifier}/")
        lan.locator(f"a[href$='/backoffice/{agency.identifier}/refunds/']").click()
        lan.wait_for_url(f"**/backoffice/{agency.identifier}/refunds/")
        assert_accessible(lan)
    finally:
        for context in contexts:
            context.close()
