"""Personas and helpers for the dossier tests.

Chị Mai is a citizen; anh Bình another citizen. The commune People's
Committee of Phường Xanh (test agency) employs chị Lan at the one-stop desk,
anh Minh as specialist and bà Hoa as leader; anh Khoa is the one-stop officer
of another agency, Phường Đỏ, where the same procedure is handled.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from lienthong.catalog.models import FieldKind, FormField, RequiredDocument
from lienthong.catalog.tests.factories import ProcedureFactory
from lienthong.directory.tests.factories import AgencyFactory
from lienthong.dossiers import notifications, services
from lienthong.dossiers.models import Dossier, Status
from lienthong.identity import services as identity
from lienthong.identity.models import Role

MAI_ID = "001190012345"
MAI_PHONE = "0912345678"
BINH_ID = "001085054321"
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def dossier_settings(settings, tmp_path):
    settings.DOSSIERS_STORAGE_DIR = tmp_path / "store"
    settings.DOSSIERS_NOTIFY_BACKENDS = ["memory"]
    settings.DOSSIERS_MAX_ATTACHMENT_BYTES = 64 * 1024
    settings.DOSSIERS_ACCEPTED_TYPES = ["pdf", "jpg", "png"]
    notifications.MemoryBackend.outbox.clear()
    yield settings


def citizen(name: str, personal_id: str, phone: str = "", email: str = ""):
    return identity.create_account(
        actor="test",
        kind="citizen",
        display_name=name,
        personal_id=personal_id,
        password=None,
        phone=phone,
        email=email,
        source="test",
    ).user


def officer(username: str, name: str):
    return identity.create_account(
        actor="test",
        kind="officer",
        display_name=name,
        username=username,
        password=None,
        source="test",
    ).user


def grant(user, agency, role):
    identity.grant_role(actor="test", user=user, agency=agency, role=role, source="test")
    return user


@pytest.fixture
def mai(db):
    return citizen("Nguyễn Thị Mai", MAI_ID, phone=MAI_PHONE, email="mai@example.test")


@pytest.fixture
def binh(db):
    return citizen("Trần Văn Bình", BINH_ID, phone="0987654321")


@pytest.fixture
def xanh(db):
    return AgencyFactory(name="UBND Phường Xanh (thử nghiệm)")


@pytest.fixture
def do(db):
    return AgencyFactory(name="UBND Phường Đỏ (thử nghiệm)")


@pytest.fixture
def lan(xanh):
    return grant(officer("lan.motcua", "Phạm Thị Lan"), xanh, Role.ONE_STOP_OFFICER)


@pytest.fixture
def minh(xanh):
    return grant(officer("minh.chuyenvien", "Lê Văn Minh"), xanh, Role.SPECIALIST)


@pytest.fixture
def hoa(xanh):
    return grant(officer("hoa.lanhdao", "Đỗ Thị Hoa"), xanh, Role.LEADER)


@pytest.fixture
def khoa(do):
    return grant(officer("khoa.motcua", "Vũ Đăng Khoa"), do, Role.ONE_STOP_OFFICER)


@pytest.fixture
def procedure(xanh, do):
    """A three-working-day procedure with a name, a date of birth, an optional
    phone number and one required document (PDF)."""
    procedure = ProcedureFactory(name="Đăng ký khai sinh (thử nghiệm)", time_limit=3)
    procedure.agencies.add(xanh, do)
    FormField.objects.create(
        procedure=procedure, key="child_name", kind=FieldKind.TEXT, label="Họ tên trẻ", position=1
    )
    FormField.objects.create(
        procedure=procedure, key="birth_date", kind=FieldKind.DATE, label="Ngày sinh", position=2
    )
    FormField.objects.create(
        procedure=procedure,
        key="phone",
        kind=FieldKind.PHONE,
        label="Điện thoại",
        required=False,
        position=3,
    )
    RequiredDocument.objects.create(
        procedure=procedure, name="Giấy chứng sinh", accepted_types=["pdf"], position=1
    )
    RequiredDocument.objects.create(
        procedure=procedure,
        name="Văn bản ủy quyền",
        required=True,
        condition="Khi người khác đi đăng ký thay",
        accepted_types=["pdf", "jpg"],
        position=2,
    )
    return procedure


def pdf(name: str = "giay-chung-sinh.pdf", extra: bytes = b"") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF + extra, content_type="application/pdf")


FORM = {"child_name": "Nguyễn Minh An", "birth_date": "20/11/2026"}


def birth_certificate(procedure):
    return procedure.documents.get(position=1)


def submit(procedure, agency, applicant, **changes) -> Dossier:
    return services.submit(
        actor=applicant,
        procedure=procedure,
        agency=agency,
        form_data=changes.pop("form_data", FORM),
        documents=changes.pop("documents", {birth_certificate(procedure).pk: [pdf()]}),
        **changes,
    )


def fee_asked(people, amount: int = 30_000) -> Dossier:
    """Mai's dossier at Xanh, in processing, whose specialist asks a fee (status 6)."""
    dossier = submit(people.procedure, people.xanh, people.mai)
    dossier = put_in(dossier, Status.PROCESSING, accepted_at=timezone.now())
    return services.request_payment(
        actor=people.minh,
        dossier=dossier,
        expected_version=dossier.version,
        amount=amount,
        reason="Phí thẩm định",
    )


def put_in(dossier: Dossier, status: Status, **fields) -> Dossier:
    """Place a dossier in a status directly (test set-up only)."""
    Dossier.objects.filter(pk=dossier.pk).update(status=status, **fields)
    dossier.refresh_from_db()
    return dossier


@pytest.fixture
def people(mai, binh, lan, minh, hoa, khoa, xanh, do, procedure):
    return SimpleNamespace(
        mai=mai,
        binh=binh,
        lan=lan,
        minh=minh,
        hoa=hoa,
        khoa=khoa,
        xanh=xanh,
        do=do,
        procedure=procedure,
    )


@pytest.fixture(scope="session")
def holidays_2026_2027(django_db_setup, django_db_blocker):
    """The holiday table for 2026 and 2027, loaded once for the session."""
    from lienthong.catalog import services as catalog

    with django_db_blocker.unblock():
        for year in (2026, 2027):
            catalog.load_holidays(actor="test-setup", year=year)


VN = dt.timezone(dt.timedelta(hours=7))


def import_agency_key(pki, agency):
    """The TEST PKI's agency certificate and key, held by the node for ``agency``
    (as an administrator imports it: ``lienthong keys import --agency …``)."""
    from lienthong.trust import keystore

    return keystore.import_pkcs12(
        actor="test",
        data=pki.p12_path("agency").read_bytes(),
        passphrase=pki.p12_passphrase("agency"),
        name=f"TEST {agency.identifier}",
        agency=agency,
        source="test",
    )


@pytest.fixture
def xanh_key(xanh, test_pki):
    return import_agency_key(test_pki, xanh)


def result_pdf(text: str = "Giay khai sinh - TEST") -> bytes:
    """A real one-page PDF (the signer refuses anything less)."""
    from lienthong.trust.tests.documents import plain_pdf

    return plain_pdf(text)


def upload(content: bytes, name: str = "ket-qua.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")
