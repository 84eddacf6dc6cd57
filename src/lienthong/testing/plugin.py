"""pytest plugin (loaded with ``-p lienthong.testing.plugin``): the fixtures every app's tests share.

The test database is created once per run with the national directory
already imported — 34 provinces, 3,321 communes and their agencies — because
that is what every node has and what most features build on. Tests run in a
transaction that is rolled back, so they see that data and leave it intact.
Avoid ``transaction=True`` tests: their flush would empty the reference data
for the tests after them (use ``serialized_rollback=True`` if one is needed).
"""

from __future__ import annotations

import pytest

from lienthong.testing.browser import *  # noqa: F403  (browser fixtures)
from lienthong.testing.pki import *  # noqa: F403  (TEST PKI fixtures)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(tmp_path_factory, django_db_modify_db_settings_parallel_suffix):
    """SQLite tests use a file, not memory, so a live-server thread sees the same data."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        database.setdefault("TEST", {})["NAME"] = str(
            tmp_path_factory.mktemp("db") / "test.sqlite3"
        )


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Import the national directory and seed the procedure catalogue (with the public
    holidays of 2026 and 2027) once into the fresh test database: every test starts
    from the same reference data, whatever ran before it."""
    from lienthong.catalog import services as catalog
    from lienthong.directory import services

    with django_db_blocker.unblock():
        data, source = services.package_units_source()
        services.import_units(actor="test-setup", rows=services.parse_units(data), source=source)
        services.import_agencies(actor="test-setup")
        catalog.seed_catalog(actor="test-setup")
        for year in (2026, 2027):
            catalog.load_holidays(actor="test-setup", year=year)


@pytest.fixture
def operator(db, django_user_model):
    """Chị Lan, the node operator: a superuser who manages the directory in the admin."""
    return django_user_model.objects.create_superuser(
        username="lan.operator", email="lan@example.test", password="correct horse battery staple"
    )


@pytest.fixture(autouse=True)
def fresh_trust_caches():
    """Each test starts from its own database state: the per-process caches of the
    trust-list version, trust material and revocation answers are forgotten."""
    from lienthong.exchange import facts
    from lienthong.trust import revocation, signing
    from lienthong.trust.validation import jws, service

    jws.trust_list_changed()
    service.forget_trust_material()
    revocation.forget_cached()
    signing.forget_prepared_keys()
    facts.forget()
    yield


def pytest_collection_modifyitems(config, items):
    """Run browser tests last.

    Playwright's sync API keeps an asyncio event loop running on the main
    thread for the rest of the session, after which ``asyncio.run()`` (which
    pyHanko's synchronous wrappers use) refuses to start there. Ordering the
    browser tests after everything else keeps both worlds working.
    """
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
