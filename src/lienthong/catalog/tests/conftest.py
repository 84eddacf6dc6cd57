"""The catalogue as every node has it: seeded once per test session, after the
national directory, so each test reads it inside its own rolled-back transaction."""

import pytest


@pytest.fixture(scope="session")
def seeded_catalog(django_db_setup):
    """Seeded with the national directory (lienthong.testing.plugin.django_db_setup)."""


@pytest.fixture
def catalog(seeded_catalog, db):
    """The seeded catalogue (13 procedures, 2 interconnected procedures, holidays 2026-2027)."""
