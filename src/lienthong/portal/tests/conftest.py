"""Personas and helpers for the portal tests.

Chị Mai is a citizen who submits dossiers; anh Bình another citizen. The
People's Committee of Phường Xanh (test agency) receives the test procedure;
chị Lan is its one-stop officer, anh Minh its specialist, chị Hoa its leader.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile

from lienthong.catalog.models import FieldKind, FormField, RequiredDocument
from lienthong.catalog.tests.factories import ProcedureFactory
from lienthong.directory.tests.factories import AgencyFactory
from lienthong.dossiers import notifications, services
from lienthong.identity import services as identity
from lienthong.identity.models import Role

PASSWORD = "correct horse battery staple"
MAI_ID = "001190012345"
MAI_PHONE = "0912345678"
BINH_ID = "001085054321"
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
FORM = {"child_name": "Nguyễn Minh An", "birth_date": "20/11/2026"}


@pytest.fixture(autouse=True)
def portal_settings(settings, tmp_path, request):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.DOSSIERS_STORAGE_DIR = tmp_path / "store"
    settings.DOSSIERS_NOTIFY_BACKENDS = ["memory"]
    settings.DOSSIERS_MAX_ATTACHMENT_BYTES = 64 * 1024
    settings.DOSSIERS_ACCEPTED_TYPES = ["pdf", "jpg", "png"]
    notifications.MemoryBackend.outbox.clear()
    # The cache may live in the database (LIENTHONG_CACHE_URL=database), which a
    # browser test reaches only through its server: the rate counters are cleared
    # by the tests that run in a transaction.
    in_transaction = "browser" not in request.keywords
    if in_transaction:
        cache.clear()
    yield settings
    if in_transaction:
        cache.clear()


def citizen(name: str, personal_id: str, phone: str = ""):
    return identity.create_account(
        actor="test",
        kind="citizen",
        display_name=name,
        personal_id=personal_id,
        password=PASSWORD,
        phone=phone,
        source="test",
    ).user


@pytest.fixture
def mai(db):
    return citizen("Nguyễn Thị Mai", MAI_ID, phone=MAI_PHONE)


@pytest.fixture
def binh(db):
    return citizen("Trần Văn Bình", BINH_ID, phone="0987654321")


@pytest.fixture
def xanh(db):
    return AgencyFactory(name="UBND Phường Xanh (thử nghiệm)")


def officer(username: str, agency, role):
    user = identity.create_account(
        actor="test",
        kind="officer",
        display_name=username,
        username=username,
        password=None,
        source="test",
    ).user
    identity.grant_role(actor="test", user=user, agency=agency, role=role, source="test")
    return user


@pytest.fixture
def lan(xanh):
    return officer("lan.motcua", xanh, Role.ONE_STOP_OFFICER)


@pytest.fixture
def minh(xanh):
    return officer("minh.chuyenvien", xanh, Role.SPECIALIST)


@pytest.fixture
def hoa(xanh):
    return officer("hoa.lanhdao", xanh, Role.LEADER)


def decided(dossier, *, lan, minh, hoa, returned: bool = False, result=None):
    """``dossier`` taken through the agency: accepted, processed, approved (with
    ``result``, an upload, if given) and, if ``returned``, handed back."""
    dossier = services.accept(actor=lan, dossier=dossier, expected_version=dossier.version)
    dossier = services.process(actor=minh, dossier=dossier, expected_version=dossier.version)
    dossier = services.approve(
        actor=hoa, dossier=dossier, expected_version=dossier.version, result=result
    )
    if returned:
        dossier = services.return_result(
            actor=lan, dossier=dossier, expected_version=dossier.version
        )
    return dossier


@pytest.fixture
def procedure(xanh):
    """A procedure received by Phường Xanh only: a name, a date of birth, an
    optional phone number and one required document (PDF)."""
    procedure = ProcedureFactory(name="Đăng ký khai sinh (thử nghiệm)", time_limit=3)
    procedure.agencies.add(xanh)
    FormField.objects.create(
        procedure=procedure,
        key="child_name",
        kind=FieldKind.TEXT,
        label="Họ tên trẻ",
        label_en="Child's name",
        position=1,
    )
    FormField.objects.create(
        procedure=procedure,
        key="birth_date",
        kind=FieldKind.DATE,
        label="Ngày sinh",
        label_en="Date of birth",
        position=2,
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
        procedure=procedure,
        name="Giấy chứng sinh",
        name_en="Birth certificate",
        accepted_types=["pdf"],
        position=1,
    )
    return procedure


def pdf(name: str = "giay-chung-sinh.pdf", extra: bytes = b"") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF + extra, content_type="application/pdf")


def submitted(user, procedure, agency, **form):
    """A dossier ``user`` submitted online, as the service makes it."""
    document = procedure.documents.first()
    return services.submit(
        actor=user,
        procedure=procedure,
        agency=agency,
        form_data={**FORM, **form},
        documents={document.pk: [pdf()]},
    )


@pytest.fixture
def signed_in(client):
    """Signs ``user`` in through the sign-in page; returns the client."""

    def sign_in(user_identifier: str):
        response = client.post(
            "/account/sign-in/", {"identifier": user_identifier, "password": PASSWORD}
        )
        assert response.status_code == 302
        return client

    return sign_in


@pytest.fixture
def english(client):
    client.cookies["lienthong_language"] = "en"
    return client
