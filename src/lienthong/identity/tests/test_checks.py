"""The node refuses to start in production with a passkey configuration that cannot work."""

from lienthong.identity.checks import check_identity_configuration


def ids(settings_):
    return {p.id for p in check_identity_configuration()}


def test_a_production_node_needs_a_relying_party_id(settings):
    settings.PRODUCTION = True
    settings.IDENTITY_RP_ID = ""
    settings.IDENTITY_ORIGINS = ["https://dvc.example.gov.vn"]
    assert ids(settings) == {"lienthong.identity.E001"}


def test_a_production_node_accepts_passkeys_only_from_https_origins(settings):
    settings.PRODUCTION = True
    settings.IDENTITY_RP_ID = "dvc.example.gov.vn"
    settings.IDENTITY_ORIGINS = ["http://dvc.example.gov.vn"]
    assert ids(settings) == {"lienthong.identity.E002"}


def test_the_idle_timeout_cannot_outlast_the_absolute_one(settings):
    settings.IDENTITY_SESSION_IDLE_SECONDS = 7200
    settings.IDENTITY_SESSION_ABSOLUTE_SECONDS = 3600
    assert "lienthong.identity.E003" in ids(settings)


def test_development_defaults_pass(settings):
    settings.PRODUCTION = False
    assert ids(settings) == set()


def test_a_production_node_refuses_a_cache_per_process(settings):
    settings.PRODUCTION = True
    settings.IDENTITY_RP_ID = "dvc.example.gov.vn"
    settings.IDENTITY_ORIGINS = ["https://dvc.example.gov.vn"]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert ids(settings) == {"lienthong.identity.E004"}
