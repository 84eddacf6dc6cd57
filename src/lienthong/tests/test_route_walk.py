"""Every page and API route, walked by every kind of visitor: who may see what.

The table below names each route once (a new route without a row fails the
first test) and what a GET from each persona gets:

- anonymous: nobody signed in;
- mai: a citizen, who submitted the dossier of the walk;
- binh: another citizen;
- lan: the one-stop officer of the agency that holds the dossier;
- operator: a staff member (the node operator).

Expectations name the outcome, not a page's content: 200, ``login`` (a redirect
to the sign-in page), 404 (absent or not yours: the same answer), 401 (the API
wants a system's bearer token), 403, 405 (the route takes another method only).
Sign-in with a second factor is the identity tests' subject; here personas are
signed in as a finished sign-in leaves them.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver

from lienthong.catalog.models import FieldKind, FormField, RequiredDocument
from lienthong.catalog.tests.factories import ProcedureFactory
from lienthong.directory.tests.factories import AgencyFactory
from lienthong.identity.models import Role
from lienthong.portal.tests.conftest import citizen, officer, submitted
from lienthong.trust.models import ValidationRecord

PERSONAS = ("anonymous", "mai", "binh", "lan", "operator")
ALL_200 = dict.fromkeys(PERSONAS, 200)
SIGNED_IN = {"anonymous": "login", "mai": 200, "binh": 200, "lan": 200, "operator": 200}
OWNER = {"anonymous": "login", "mai": 200, "binh": 404, "lan": 404, "operator": 404}
STAFF = {"anonymous": "login", "mai": "login", "binh": "login", "lan": "login", "operator": 200}
POST_ONLY = dict.fromkeys(PERSONAS, 405)
POST_ONLY_SIGNED_IN = {**dict.fromkeys(PERSONAS, 405), "anonymous": "login"}
SYSTEM_TOKEN = dict.fromkeys(PERSONAS, 401)

# route name → (the path to GET, the persona → outcome table)
ROUTES = {
    ":home": ("/", ALL_200),
    ":healthz": ("/healthz", ALL_200),
    ":readyz": ("/readyz", ALL_200),
    ":metrics": ("/metrics", ALL_200),  # loopback clients (the test client is one)
    ":set_language": ("/i18n/setlang/", dict.fromkeys(PERSONAS, 302)),  # back to the page
    "directory:index": ("/directory/", ALL_200),
    "directory:search": ("/directory/search/?q=ha+noi", ALL_200),
    "directory:unit": ("/directory/units/01/", ALL_200),
    "directory:agencies": ("/directory/agencies/", ALL_200),
    "directory:agency": ("/directory/agencies/000.00.00.G12/", ALL_200),
    "trust:validate": ("/trust/validate/", ALL_200),
    # A report is reached by its unguessable id, as a receipt would be.
    "trust:report": ("/trust/reports/{report}/", ALL_200),
    "trust:report-json": ("/trust/reports/{report}/report.json", ALL_200),
    "trust:report-pdf": ("/trust/reports/{report}/report.pdf", ALL_200),
    "exchange:peers": ("/exchange/peers/", STAFF),
    "catalog:list": ("/procedures/", ALL_200),
    "catalog:detail": ("/procedures/1.001193/", ALL_200),
    "portal:mine": ("/dossiers/", SIGNED_IN),
    "portal:lookup": ("/dossiers/lookup/", ALL_200),
    "portal:new": ("/dossiers/new/{procedure}/", SIGNED_IN),
    "portal:detail": ("/dossiers/{dossier}/", OWNER),
    "portal:withdraw": ("/dossiers/{dossier}/withdraw/", POST_ONLY_SIGNED_IN),
    "portal:supplement": ("/dossiers/{dossier}/supplement/", POST_ONLY_SIGNED_IN),
    # The back office: officers of the agency only; anyone else finds nothing there.
    "backoffice:agencies": (
        "/backoffice/",
        {"anonymous": "login", "mai": 404, "binh": 404, "lan": 200, "operator": 404},
    ),
    "backoffice:queue": (
        "/backoffice/{agency}/",
        {"anonymous": "login", "mai": 404, "binh": 404, "lan": 200, "operator": 404},
    ),
    "backoffice:detail": (
        "/backoffice/{agency}/dossiers/{dossier}/",
        {"anonymous": "login", "mai": 404, "binh": 404, "lan": 200, "operator": 404},
    ),
    "backoffice:act": (
        "/backoffice/{agency}/dossiers/{dossier}/accept/",
        {"anonymous": "login", "mai": 404, "binh": 404, "lan": 405, "operator": 404},
    ),
    "identity:security": ("/account/", SIGNED_IN),
    "identity:sign-in": ("/account/sign-in/", ALL_200),
    "identity:sign-in-verify": ("/account/sign-in/verify/", dict.fromkeys(PERSONAS, "login")),
    "identity:sign-out": ("/account/sign-out/", POST_ONLY),
    "identity:activity": ("/account/activity/", SIGNED_IN),
    "identity:step-up": ("/account/verify/", SIGNED_IN),
    "identity:totp-enrol": ("/account/totp/", SIGNED_IN),
    "identity:totp-remove": ("/account/totp/remove/", POST_ONLY_SIGNED_IN),
    "identity:backup-codes": ("/account/backup-codes/", POST_ONLY_SIGNED_IN),
    "identity:sms-enable": ("/account/sms/", SIGNED_IN),
    "identity:sms-disable": ("/account/sms/remove/", POST_ONLY_SIGNED_IN),
    "identity:passkey-add": ("/account/passkeys/add/", SIGNED_IN),
    "identity:passkey-rename": ("/account/passkeys/999999/rename/", POST_ONLY_SIGNED_IN),
    "identity:passkey-revoke": ("/account/passkeys/999999/remove/", POST_ONLY_SIGNED_IN),
    "identity:passkey-register-options": (
        "/account/passkeys/register/options/",
        POST_ONLY_SIGNED_IN,
    ),
    "identity:passkey-register": ("/account/passkeys/register/", POST_ONLY_SIGNED_IN),
    "identity:passkey-sign-in-options": ("/account/sign-in/passkey/options/", POST_ONLY),
    "identity:passkey-sign-in": ("/account/sign-in/passkey/", POST_ONLY),
    "identity:passkey-verify-options": ("/account/verify/passkey/options/", POST_ONLY_SIGNED_IN),
    "identity:passkey-verify": ("/account/verify/passkey/", POST_ONLY_SIGNED_IN),
    # The API: public reads, node-to-node calls, and the adapter (a system's token).
    "api-v1:api-root": ("/api/v1/", dict.fromkeys(PERSONAS, 404)),
    "api-v1:openapi-json": ("/api/v1/openapi.json", ALL_200),
    "api-v1:openapi-view": ("/api/v1/docs", ALL_200),
    "api-v1:node": ("/api/v1/node", ALL_200),
    "api-v1:list_units": ("/api/v1/units", ALL_200),
    "api-v1:get_unit": ("/api/v1/units/01", ALL_200),
    "api-v1:list_agencies": ("/api/v1/agencies", ALL_200),
    "api-v1:get_agency": ("/api/v1/agencies/000.00.00.G12", ALL_200),
    "api-v1:list_postal_codes": ("/api/v1/postal-codes", ALL_200),
    "api-v1:validate_address": ("/api/v1/addresses/validate", POST_ONLY),
    "api-v1:directory_snapshot": ("/api/v1/directory/snapshot", dict.fromkeys(PERSONAS, 404)),
    "api-v1:validate": ("/api/v1/signatures/validate", POST_ONLY),
    "api-v1:get_report": ("/api/v1/signatures/reports/{report}", ALL_200),
    "api-v1:receive_envelopes": ("/api/v1/exchange/envelopes", POST_ONLY),
    "api-v1:answer_query": ("/api/v1/exchange/queries", POST_ONLY),
    "api-v1:file_held": ("/api/v1/exchange/files/" + "0" * 64, dict.fromkeys(PERSONAS, 404)),
    "api-v1:file_transfer": None,  # PUT on the same path as file_held
    "api-v1:send": ("/api/v1/exchange/outbox", POST_ONLY),
    "api-v1:follow": ("/api/v1/exchange/outbox/x", SYSTEM_TOKEN),
    "api-v1:inbox": ("/api/v1/exchange/inbox", SYSTEM_TOKEN),
    "api-v1:acknowledge": ("/api/v1/exchange/inbox/ack", POST_ONLY),
    "api-v1:set_webhook": ("/api/v1/exchange/webhook", POST_ONLY),  # PUT and DELETE
    "api-v1:remove_webhook": None,  # DELETE on the same path
    "api-v1:query_service": ("/api/v1/exchange/query/VN:GOV:000.00.00.G22:x/s", SYSTEM_TOKEN),
    "api-v1:query_path": ("/api/v1/exchange/query/VN:GOV:000.00.00.G22:x/s/a/b", SYSTEM_TOKEN),
    "api-v1:upload_attachment": ("/api/v1/exchange/attachments/" + "0" * 64, SYSTEM_TOKEN),
    "api-v1:download_attachment": None,  # GET on the same path, walked above
    "api-v1:list_procedures": ("/api/v1/procedures", ALL_200),
    "api-v1:get_procedure": ("/api/v1/procedures/1.001193", ALL_200),
    "api-v1:list_fields": ("/api/v1/procedure-fields", ALL_200),
    "api-v1:list_interconnected": ("/api/v1/interconnected-procedures", ALL_200),
    "api-v1:get_interconnected": ("/api/v1/interconnected-procedures/{group}", ALL_200),
}


def route_names() -> set[str]:
    """Every named route of the node (the admin has its own permission system)."""
    names: set[str] = set()

    def walk(patterns, namespace: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if str(pattern.pattern).startswith("admin/"):
                    continue
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.add(f"{namespace}:{pattern.name}")

    walk(get_resolver().url_patterns, "")
    return names


def test_every_route_is_in_the_walk():
    assert route_names() - ROUTES.keys() == set(), "add the new routes to ROUTES"
    assert ROUTES.keys() - route_names() == set(), "remove the routes that are gone"


@pytest.fixture
def world(db, client, settings, tmp_path):
    """The dossier of the walk, a signature report, and the people around them."""
    from lienthong.catalog.models import InterconnectedProcedure
    from lienthong.identity import services as identity

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.DOSSIERS_STORAGE_DIR = tmp_path / "store"
    settings.DOSSIERS_NOTIFY_BACKENDS = ["memory"]
    agency = AgencyFactory(name="UBND Phường Xanh (thử nghiệm)")
    procedure = ProcedureFactory(name="Đăng ký khai sinh (thử nghiệm)", time_limit=3)
    procedure.agencies.add(agency)
    FormField.objects.create(procedure=procedure, key="child_name", kind=FieldKind.TEXT,
                             label="Họ tên trẻ", position=1)  # fmt: skip
    FormField.objects.create(procedure=procedure, key="birth_date", kind=FieldKind.DATE,
                             label="Ngày sinh", position=2)  # fmt: skip
    RequiredDocument.objects.create(procedure=procedure, name="Giấy chứng sinh",
                                    accepted_types=["pdf"], position=1)  # fmt: skip
    mai = citizen("Nguyễn Thị Mai", "001190012345", phone="0912345678")
    binh = citizen("Trần Văn Bình", "001190054321")
    lan = officer("lan.motcua", agency, Role.ONE_STOP_OFFICER)
    operator = identity.create_account(
        actor="test", kind="officer", display_name="Quản trị", username="operator.walk",
        password=None, source="test",
    ).user  # fmt: skip
    operator.is_staff = operator.is_superuser = True
    operator.save(update_fields=["is_staff", "is_superuser"])
    dossier = submitted(mai, procedure, agency)
    client.post("/trust/validate/", {"document": SimpleUploadedFile("x.pdf", b"%PDF-1.7 no")})
    return {
        "people": {"mai": mai, "binh": binh, "lan": lan, "operator": operator},
        "values": {
            "dossier": dossier.code,
            "agency": agency.identifier,
            "procedure": procedure.code,
            "report": ValidationRecord.objects.get().pk,
            "group": InterconnectedProcedure.objects.order_by("code").first().code,
        },
    }


def outcome(response) -> int | str:
    # The admin's sign-in page (for staff pages) hands over to /account/sign-in/ too.
    if response.status_code == 302 and response["Location"].startswith(
        ("/account/sign-in/", "/admin/login/")
    ):
        return "login"
    return response.status_code


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_persona_gets_what_the_table_says_on_every_route(world, client, persona):
    if persona != "anonymous":
        client.force_login(world["people"][persona])
    surprises = {}
    for name, entry in ROUTES.items():
        if entry is None:
            continue
        path, expected = entry
        got = outcome(client.get(path.format(**world["values"])))
        if got != expected[persona]:
            surprises[name] = (expected[persona], got)
    assert surprises == {}, "route: (expected, got)"
