"""The public API honours its OpenAPI document for generated inputs (schemathesis),
and the committed document matches the code (drift check)."""

from pathlib import Path

import pytest
import schemathesis
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from lienthong.management.commands.openapi import render_document
from lienthong.wsgi import application

pytestmark = pytest.mark.django_db

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


@pytest.fixture(autouse=True)
def keep_the_test_connection_open():
    """Calls go straight to the WSGI app, whose request signals would close the
    test's database connection (Django's test client disconnects them the same way)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def receipt_key(test_pki):
    """A key for an agency this node hosts, so the exchange can sign its receipts."""
    from lienthong.directory.models import Agency
    from lienthong.node import this_node
    from lienthong.trust import keystore

    hosted = this_node().hosted_agencies()
    return keystore.import_pkcs12(
        actor="test",
        data=test_pki.p12_path("agency").read_bytes(),
        passphrase=test_pki.p12_passphrase("agency"),
        name="receipts",
        agency=hosted[0] if hosted else Agency.objects.first(),
    )


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_within_its_contract(case, request):
    """No 5xx, documented status codes, bodies matching their schemas."""
    excluded = []
    if case.operation.path.endswith("/signatures/validate"):
        # Multipart form data cannot be judged field by field the way JSON can:
        # unknown extra parts are ignored, a file is judged by its content (and
        # "accepted" with a report saying what is wrong with it), and parts whose
        # names hold control characters make Django's parser drop the rest of
        # the form. Status codes, bodies and 5xx are still checked.
        excluded += [negative_data_rejection, positive_data_acceptance]
    if case.method.upper() == "PUT" and "{sha256}" in case.operation.path:
        # A file is accepted only if its bytes hash to the digest in its address:
        # generated bodies never do (digest_mismatch), which no schema can say.
        excluded += [negative_data_rejection, positive_data_acceptance]
    if case.operation.path.endswith(("/exchange/envelopes", "/exchange/queries")):
        request.getfixturevalue("receipt_key")
    case.call_and_validate(excluded_checks=excluded)


def test_the_committed_document_matches_the_code():
    committed = Path(__file__).resolve().parents[3] / "docs" / "api" / "openapi-v1.json"
    assert committed.read_text("utf-8") == render_document(), "run `lienthong openapi` and commit"


def test_the_drift_check_fails_on_a_stale_document(tmp_path):
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n", encoding="utf-8")
    with pytest.raises(CommandError, match="differs from the API"):
        call_command("openapi", check=True, output=stale)
    call_command("openapi", output=stale)
    call_command("openapi", check=True, output=stale)
