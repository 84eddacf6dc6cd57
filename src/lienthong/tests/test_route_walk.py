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
from lienthong.dossiers.attachments import store_bytes
from lienthong.dossiers.models import Attachment
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
BACKOFFICE = {"anonymous": "login", "mai": 404, "binh": 404, "lan": 200, "operator": 404}
NO_UUID = "00000000-0000-4000-8000-000000000000"

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
    "portal:communes": ("/dossiers/communes/?commune=home__commune&home__province=01", SIGNED_IN),
    "portal:new": ("/dossiers/new/{procedure}/", SIGNED_IN),
    "portal:detail": ("/dossiers/{dossier}/", OWNER),
    "portal:withdraw": ("/dossiers/{dossier}/withdraw/", POST_ONLY_SIGNED_IN),
    "portal:supplement": ("/dossiers/{dossier}/supplement/", POST_ONLY_SIGNED_IN),
    "portal:new-interconnected": ("/dossiers/new/interconnected/{group}/", SIGNED_IN),
    "portal:receipt": ("/dossiers/{dossier}/receipt.pdf", OWNER),
    "portal:delivery": ("/dossiers/{dossier}/delivery/", POST_ONLY_SIGNED_IN),
    # Paying a fee: the applicant's; the backend's callback verifies what it is sent.
    "portal:pay": ("/dossiers/{dossier}/payment/", POST_ONLY_SIGNED_IN),
    "portal:payment-return": ("/dossiers/{dossier}/payment/return/", {**OWNER, "mai": 400}),
    "portal:payment-callback": ("/dossiers/payments/console/callback/", POST_ONLY),
    # A later step's result sent back from its node: the walk's dossier has none.
    "portal:step-result": (
        "/dossiers/{dossier}/steps/2/result.pdf",
        {**dict.fromkeys(PERSONAS, 404), "anonymous": "login"},
    ),
    "portal:step-result-verify": ("/dossiers/{dossier}/steps/2/verify/", POST_ONLY_SIGNED_IN),
    "portal:rate": ("/dossiers/{dossier}/rating/", OWNER),
    "portal:declaration": ("/dossiers/{dossier}/declaration.pdf", OWNER),
    "portal:sign-declaration": ("/dossiers/{dossier}/declaration/sign/", POST_ONLY_SIGNED_IN),
    # A declaration's pending signature approved on the phone: its applicant's only.
    "portal:sign-declaration-wait": (
        "/dossiers/{dossier}/declaration/sign/none/",
        {**dict.fromkeys(PERSONAS, 404), "anonymous": "login"},
    ),
    "portal:sign-declaration-finish": (
        "/dossiers/{dossier}/declaration/sign/none/finish/",
        POST_ONLY_SIGNED_IN,
    ),
    # Ratings are read by the agency's leaders, administrators and assessors only.
    "portal:rating-agencies": ("/dossiers/ratings/", {**OWNER, "mai": 404}),
    "portal:agency-ratings": ("/dossiers/ratings/{agency}/", {**OWNER, "mai": 404}),
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
    "backoffice:intake": ("/backoffice/{agency}/intake/", BACKOFFICE),
    "backoffice:intake-form": ("/backoffice/{agency}/intake/{procedure}/", BACKOFFICE),
    # The agency's payments to refund: its one-stop officers'; the actions take POST.
    "backoffice:refunds": ("/backoffice/{agency}/refunds/", BACKOFFICE),
    "backoffice:refund": ("/backoffice/{agency}/refunds/1/refund/", {**BACKOFFICE, "lan": 405}),
    "backoffice:refund-otherwise": (
        "/backoffice/{agency}/refunds/1/otherwise/",
        {**BACKOFFICE, "lan": 405},
    ),
    "backoffice:receipt": ("/backoffice/{agency}/dossiers/{dossier}/receipt/", BACKOFFICE),
    "backoffice:attachment": (
        "/backoffice/{agency}/dossiers/{dossier}/files/{attachment}/",
        BACKOFFICE,
    ),
    # A leader's own signature: leaders only (lan is none); a pending one, its leader's.
    "backoffice:signature-sms": (
        "/backoffice/{agency}/dossiers/{dossier}/signature/sms/",
        {**BACKOFFICE, "lan": 404},
    ),
    "backoffice:signature": (
        "/backoffice/{agency}/dossiers/{dossier}/signature/none/",
        {**BACKOFFICE, "lan": 404},
    ),
    "backoffice:signature-finish": (
        "/backoffice/{agency}/dossiers/{dossier}/signature/none/finish/",
        {**BACKOFFICE, "lan": 404},
    ),
    # A dossier's signed result: its applicant and the agency's officers.
    "dossiers:result": (
        "/results/{dossier}/",
        {"anonymous": "login", "mai": 200, "binh": 404, "lan": 200, "operator": 404},
    ),
    "dossiers:result-verify": ("/results/{dossier}/verify/", POST_ONLY_SIGNED_IN),
    "identity:security": ("/account/", SIGNED_IN),
    "identity:sign-in": ("/account/sign-in/", ALL_200),
    "identity:sign-in-verify": ("/account/sign-in/verify/", dict.fromkeys(PERSONAS, "login")),
    "identity:sign-out": ("/account/sign-out/", POST_ONLY),
    "identity:activity": ("/account/activity/", SIGNED_IN),
    "identity:sessions": ("/account/sessions/", SIGNED_IN),
    "identity:session-end": ("/account/sessions/999999/end/", POST_ONLY_SIGNED_IN),
    "identity:sessions-end-others": ("/account/sessions/end-others/", POST_ONLY_SIGNED_IN),
    "identity:password-change": ("/account/password/", SIGNED_IN),
    "identity:password-reset": ("/account/password-reset/", ALL_200),
    "identity:password-reset-sent": ("/account/password-reset/sent/", ALL_200),
    # A wrong or spent link: the same "this link does not work" page for everyone.
    "identity:password-reset-link": ("/account/password-reset/MQ/1a2-bad/", ALL_200),
    "identity:password-reset-new": ("/account/password-reset/MQ/new/", ALL_200),
    "identity:recovery": ("/account/recovery/", ALL_200),
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
    # Approvals on the phone: the computer's pages need a sign-in; the phone's app
    # knows its own cookie only, and shows nothing to anyone else.
    "approvals:devices": ("/approvals/devices/", SIGNED_IN),
    "approvals:pair-start": ("/approvals/devices/pair/", SIGNED_IN),
    "approvals:device-revoke": ("/approvals/devices/999999/revoke/", POST_ONLY_SIGNED_IN),
    "approvals:step-up-start": ("/approvals/step-up/", POST_ONLY_SIGNED_IN),
    # Nothing waiting: back to the account page.
    "approvals:step-up-wait": (
        "/approvals/step-up/wait/",
        {**dict.fromkeys(PERSONAS, 302), "anonymous": "login"},
    ),
    "approvals:pair-code": ("/approvals/pair/", ALL_200),
    "approvals:pair-confirm": ("/approvals/pair/confirm/", dict.fromkeys(PERSONAS, 302)),
    "approvals:pair-options": ("/approvals/pair/options/", POST_ONLY),
    "approvals:pair-register": ("/approvals/pair/register/", POST_ONLY),
    "approvals:pair-link": ("/approvals/pair/not-a-token/", dict.fromkeys(PERSONAS, 400)),
    "approvals:app": ("/approvals/app/", ALL_200),
    "approvals:app-offline": ("/approvals/app/offline/", ALL_200),
    "approvals:app-connect-options": ("/approvals/app/connect/options/", POST_ONLY),
    "approvals:app-connect": ("/approvals/app/connect/", POST_ONLY),
    "approvals:app-request": (
        "/approvals/app/requests/" + NO_UUID + "/",
        dict.fromkeys(PERSONAS, 404),
    ),
    "approvals:app-approve-options": (
        "/approvals/app/requests/" + NO_UUID + "/options/",
        POST_ONLY,
    ),
    "approvals:app-approve": ("/approvals/app/requests/" + NO_UUID + "/approve/", POST_ONLY),
    "approvals:app-deny": ("/approvals/app/requests/" + NO_UUID + "/deny/", POST_ONLY),
    "approvals:manifest": ("/approvals/manifest.webmanifest", ALL_200),
    "approvals:service-worker": ("/approvals/sw.js", ALL_200),
    "approvals:sign-in-start": ("/approvals/sign-in/", POST_ONLY),
    "approvals:sign-in-wait": ("/approvals/sign-in/wait/", dict.fromkeys(PERSONAS, "login")),
    # Remote signing: the holder's page, and the CSC API v2 (POST only, a bearer token).
    "signing:index": ("/account/signing/", SIGNED_IN),
    "signing:request-credential": ("/account/signing/keys/", POST_ONLY_SIGNED_IN),
    "signing:issue-token": ("/account/signing/tokens/", POST_ONLY_SIGNED_IN),
    "signing:revoke-token": ("/account/signing/tokens/999999/revoke/", POST_ONLY_SIGNED_IN),
    # Linking an account at an external signing service (none here: back to the page).
    "signing:link-token": ("/account/signing/service/token/", POST_ONLY_SIGNED_IN),
    "signing:link-start": ("/account/signing/service/link/", POST_ONLY_SIGNED_IN),
    "signing:link-callback": (
        "/account/signing/service/callback/",
        {**dict.fromkeys(PERSONAS, 302), "anonymous": "login"},
    ),
    "signing:unlink": ("/account/signing/service/unlink/", POST_ONLY_SIGNED_IN),
    # The service's return after authorising a signature's hashes (no service here).
    "signing:authorize-callback": (
        "/account/signing/service/authorize/callback/",
        {**dict.fromkeys(PERSONAS, 302), "anonymous": "login"},
    ),
    "csc-v2:api-root": ("/csc/v2/", dict.fromkeys(PERSONAS, 404)),
    "csc-v2:openapi-json": ("/csc/v2/openapi.json", ALL_200),
    "csc-v2:info": ("/csc/v2/info", POST_ONLY),
    "csc-v2:credentials_list": ("/csc/v2/credentials/list", POST_ONLY),
    "csc-v2:credentials_info": ("/csc/v2/credentials/info", POST_ONLY),
    "csc-v2:credentials_authorize": ("/csc/v2/credentials/authorize", POST_ONLY),
    "csc-v2:credentials_send_otp": ("/csc/v2/credentials/sendOTP", POST_ONLY),
    "csc-v2:signatures_sign_hash": ("/csc/v2/signatures/signHash", POST_ONLY),
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
    # Its result, as an approval leaves it (who may fetch it is the walk's subject).
    blob = store_bytes(b"%PDF-1.7 TEST result", name="ket-qua.pdf")
    dossier.result = Attachment.objects.create(
        dossier=dossier, kind="result", sha256=blob.sha256, size=blob.size,
        media_type=blob.media_type, original_name=blob.original_name, path=blob.path,
    )  # fmt: skip
    dossier.save(update_fields=["result"])
    nam = officer("nam.motcua", AgencyFactory(name="UBND Phường Vàng"), Role.ONE_STOP_OFFICER)
    client.post("/trust/validate/", {"document": SimpleUploadedFile("x.pdf", b"%PDF-1.7 no")})
    return {
        "people": {"mai": mai, "binh": binh, "lan": lan, "operator": operator, "nam": nam},
        "values": {
            "dossier": dossier.code,
            "attachment": dossier.attachments.order_by("pk").first().pk,
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


# --- POST: who may do what -------------------------------------------------------------------
#
# Every POST route of the dossier pages (the citizen's portal, the back office,
# the results), posted empty by every persona and by nam, the one-stop officer
# of another agency. An empty form is refused (400) only after the route has
# decided the persona may act there; everyone else gets the sign-in page, or
# the 404 an absent dossier or agency gets. A POST on a GET-only page is 405
# once the persona may see it. Nothing is changed by any of them.
POST_PERSONAS = (*PERSONAS, "nam")
POST_SCOPED = ("portal:", "backoffice:", "dossiers:")
IN_AGENCY = {"anonymous": "login", "mai": 404, "binh": 404, "lan": 400, "operator": 404,
             "nam": 404}  # fmt: skip
OWNER_POST = {"anonymous": "login", "mai": 400, "binh": 404, "lan": 404, "operator": 404,
              "nam": 404}  # fmt: skip
SIGNED_IN_POST = {**dict.fromkeys(POST_PERSONAS, 400), "anonymous": "login"}
GET_ONLY_SIGNED_IN = {**dict.fromkeys(POST_PERSONAS, 405), "anonymous": "login"}

POST_ROUTES = {
    "portal:mine": ("/dossiers/", GET_ONLY_SIGNED_IN),
    "portal:lookup": ("/dossiers/lookup/", dict.fromkeys(POST_PERSONAS, 200)),  # shown again
    "portal:communes": ("/dossiers/communes/", GET_ONLY_SIGNED_IN),
    "portal:new": ("/dossiers/new/{procedure}/", SIGNED_IN_POST),
    "portal:detail": ("/dossiers/{dossier}/", GET_ONLY_SIGNED_IN),
    "portal:withdraw": ("/dossiers/{dossier}/withdraw/", OWNER_POST),
    "portal:supplement": ("/dossiers/{dossier}/supplement/", OWNER_POST),
    # Several agencies handle the first step: without one chosen, the choice is shown.
    "portal:new-interconnected": (
        "/dossiers/new/interconnected/{group}/",
        {**dict.fromkeys(POST_PERSONAS, 200), "anonymous": "login"},
    ),
    "portal:receipt": ("/dossiers/{dossier}/receipt.pdf", GET_ONLY_SIGNED_IN),
    "portal:delivery": ("/dossiers/{dossier}/delivery/", OWNER_POST),
    # Nothing to pay on the walk's dossier (409); an unsigned confirmation is refused.
    "portal:pay": ("/dossiers/{dossier}/payment/", {**OWNER_POST, "mai": 409}),
    "portal:payment-return": ("/dossiers/{dossier}/payment/return/", GET_ONLY_SIGNED_IN),
    "portal:payment-callback": (
        "/dossiers/payments/console/callback/",
        dict.fromkeys(POST_PERSONAS, 400),
    ),
    "portal:step-result": ("/dossiers/{dossier}/steps/2/result.pdf", GET_ONLY_SIGNED_IN),
    "portal:step-result-verify": (
        "/dossiers/{dossier}/steps/2/verify/",
        {**dict.fromkeys(POST_PERSONAS, 404), "anonymous": "login"},
    ),
    "portal:rate": ("/dossiers/{dossier}/rating/", OWNER_POST),
    "portal:declaration": ("/dossiers/{dossier}/declaration.pdf", GET_ONLY_SIGNED_IN),
    "portal:sign-declaration": ("/dossiers/{dossier}/declaration/sign/", OWNER_POST),
    "portal:sign-declaration-wait": (
        "/dossiers/{dossier}/declaration/sign/none/",
        GET_ONLY_SIGNED_IN,
    ),
    # Nobody's pending signature is called "none": the applicant too finds nothing.
    "portal:sign-declaration-finish": (
        "/dossiers/{dossier}/declaration/sign/none/finish/",
        {**dict.fromkeys(POST_PERSONAS, 404), "anonymous": "login"},
    ),
    "portal:rating-agencies": ("/dossiers/ratings/", GET_ONLY_SIGNED_IN),
    "portal:agency-ratings": ("/dossiers/ratings/{agency}/", {**IN_AGENCY, "lan": 404}),
    "backoffice:agencies": ("/backoffice/", GET_ONLY_SIGNED_IN),
    "backoffice:queue": ("/backoffice/{agency}/", {**IN_AGENCY, "lan": 405}),
    "backoffice:intake": ("/backoffice/{agency}/intake/", {**IN_AGENCY, "lan": 405}),
    "backoffice:intake-form": ("/backoffice/{agency}/intake/{procedure}/", IN_AGENCY),
    "backoffice:refunds": ("/backoffice/{agency}/refunds/", {**IN_AGENCY, "lan": 405}),
    # The walk's dossier has no payment to refund: the officer finds none (404).
    "backoffice:refund": ("/backoffice/{agency}/refunds/1/refund/", {**IN_AGENCY, "lan": 404}),
    "backoffice:refund-otherwise": (
        "/backoffice/{agency}/refunds/1/otherwise/",
        {**IN_AGENCY, "lan": 404},
    ),
    "backoffice:detail": ("/backoffice/{agency}/dossiers/{dossier}/", {**IN_AGENCY, "lan": 405}),
    "backoffice:receipt": (
        "/backoffice/{agency}/dossiers/{dossier}/receipt/",
        {**IN_AGENCY, "lan": 405},
    ),
    "backoffice:attachment": (
        "/backoffice/{agency}/dossiers/{dossier}/files/{attachment}/",
        {**IN_AGENCY, "lan": 405},
    ),
    "backoffice:act": ("/backoffice/{agency}/dossiers/{dossier}/accept/", IN_AGENCY),
    "backoffice:act-other": ("/backoffice/{agency}/dossiers/{dossier}/approve/", IN_AGENCY),
    "backoffice:signature-sms": (
        "/backoffice/{agency}/dossiers/{dossier}/signature/sms/",
        {**IN_AGENCY, "lan": 404},
    ),
    "backoffice:signature": (
        "/backoffice/{agency}/dossiers/{dossier}/signature/none/",
        {**IN_AGENCY, "lan": 404},
    ),
    "backoffice:signature-finish": (
        "/backoffice/{agency}/dossiers/{dossier}/signature/none/finish/",
        {**IN_AGENCY, "lan": 404},
    ),
    "dossiers:result": ("/results/{dossier}/", GET_ONLY_SIGNED_IN),
    # Verifying validates the result and shows the report (a redirect to it).
    "dossiers:result-verify": (
        "/results/{dossier}/verify/",
        {"anonymous": "login", "mai": 302, "binh": 404, "lan": 302, "operator": 404, "nam": 404},
    ),
}


def test_every_dossier_route_is_in_the_post_walk():
    scoped = {name for name in route_names() if name.startswith(POST_SCOPED)}
    walked = {name for name in POST_ROUTES if ":" in name and name in route_names()}
    assert scoped - walked == set(), "add the new dossier routes to POST_ROUTES"


@pytest.mark.parametrize("persona", POST_PERSONAS)
def test_each_persona_gets_what_the_table_says_on_every_dossier_post(world, client, persona):
    from lienthong.dossiers.models import Dossier

    if persona != "anonymous":
        client.force_login(world["people"][persona])
    before = list(Dossier.objects.values_list("code", "status", "version"))
    surprises = {}
    for name, (path, expected) in POST_ROUTES.items():
        got = outcome(client.post(path.format(**world["values"])))
        if got != expected[persona]:
            surprises[name] = (expected[persona], got)
    assert surprises == {}, "route: (expected, got)"
    assert list(Dossier.objects.values_list("code", "status", "version")) == before
