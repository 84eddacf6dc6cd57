"""Django settings for a Liên Thông node, read from the environment.

See docs/configuration.md for every variable. Defaults suit a developer's
machine and the embedded demo (SQLite in ./data); production sets
LIENTHONG_ENV=production and the system checks in lienthong.checks refuse an
unsafe combination at start.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from lienthong.config import (
    ConfigurationError,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_str,
    load_or_create_key_encryption_key,
    load_or_create_secret_key,
)
from lienthong.log_config import build_logging

PACKAGE_DIR = Path(__file__).resolve().parent

ENVIRONMENT = env_choice("LIENTHONG_ENV", ("development", "production"), "development")
PRODUCTION = ENVIRONMENT == "production"

DATA_DIR = Path(env_str("LIENTHONG_DATA_DIR", "data")).resolve()

DEBUG = env_bool("LIENTHONG_DEBUG", default=not PRODUCTION)
SECRET_KEY = load_or_create_secret_key(DATA_DIR)
# Encrypts the signing keys the node holds (lienthong.trust.keystore).
KEY_ENCRYPTION_KEY = load_or_create_key_encryption_key(DATA_DIR)

ALLOWED_HOSTS = env_list(
    "LIENTHONG_ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"]
)
CSRF_TRUSTED_ORIGINS = env_list("LIENTHONG_CSRF_TRUSTED_ORIGINS")

# --- The node's own identity (DESIGN.md, "Shape of the system") -------------
NODE_IDENTIFIER = env_str("LIENTHONG_NODE_IDENTIFIER", "VN:GOV:000.00.00.G22:node")
NODE_NAME = env_str("LIENTHONG_NODE_NAME", "Nút trung ương (demo)")
NODE_ROLE = env_str("LIENTHONG_NODE_ROLE", "central").strip().lower()
NODE_AGENCIES = env_list("LIENTHONG_NODE_AGENCIES")

# --- Applications -----------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",
    "lienthong",
    "lienthong.audit",
    "lienthong.directory",
    "lienthong.trust",
    "lienthong.exchange",
    "lienthong.identity",
    "lienthong.catalog",
    "lienthong.dossiers",
    "lienthong.portal",
    "lienthong.backoffice",
    "lienthong.approvals",
    "lienthong.signing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "lienthong.middleware.RefuseNulMiddleware",
    "lienthong.exchange.tls.ListenerMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "lienthong.audit.middleware.AuditContextMiddleware",
    "lienthong.identity.sessions.SessionPolicyMiddleware",
]

ROOT_URLCONF = "lienthong.urls"
WSGI_APPLICATION = "lienthong.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "lienthong.context_processors.node",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
# SQLite is the embedded default; PostgreSQL is for production (DATABASE_URL).
_default_sqlite = f"sqlite:///{DATA_DIR / 'lienthong.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", _default_sqlite),
        conn_max_age=env_int("LIENTHONG_DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers proceed while one writer commits; IMMEDIATE makes a
    # writing transaction take the lock at BEGIN, so two writers queue on
    # busy_timeout instead of failing with "database is locked" mid-way.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Connections are kept (LIENTHONG_DB_CONN_MAX_AGE) on SQLite too: opening one
    # and running the pragmas above cost about a millisecond per request.
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache: shared by every process of the node -----------------------------
# What it holds must be shared between the worker processes and nodes' processes: Redis when LIENTHONG_CACHE_URL names
# one (redis:// or rediss://, needs the "redis" extra), else a table in the
# database ("lienthong_cache", made by `lienthong migrate`). locmem:// keeps a
# cache per process: for a single-process tool only.
CACHE_URL = env_str("LIENTHONG_CACHE_URL", "database")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": env_str("LIENTHONG_CACHE_KEY_PREFIX", "lienthong"),
        }
    }
    # Sessions are read from Redis and written to both it and the database: a
    # request reads no session row, and a Redis restart signs nobody out.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
elif CACHE_URL == "database":
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "lienthong_cache",
        }
    }
elif CACHE_URL == "locmem://":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ConfigurationError(
        f"LIENTHONG_CACHE_URL: expected redis://…, rediss://…, database or locmem://, "
        f"got {CACHE_URL!r}"
    )
# The page chrome that is the same for every reader of one language and state
# (the main menu, the language list, the footer: base.html's {% cache %}
# fragments), kept in each process: nothing in it belongs to one user.
CACHES["fragments"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "lienthong-fragments",
    "TIMEOUT": 3600,
}

# --- Authentication ---------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Everyone signs in at /account/ (lienthong.identity), staff included: the
# admin's own sign-in page redirects there, so nobody gets around the second factor.
LOGIN_URL = "identity:sign-in"
LOGIN_REDIRECT_URL = "identity:security"

# --- Internationalisation: Vietnamese first, English available --------------
LANGUAGE_CODE = "vi"
LANGUAGES = [("vi", _("Vietnamese")), ("en", _("English"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = "Asia/Ho_Chi_Minh"
USE_I18N = True
USE_TZ = True
LANGUAGE_COOKIE_NAME = "lienthong_language"
LANGUAGE_COOKIE_SECURE = PRODUCTION
LANGUAGE_COOKIE_SAMESITE = "Lax"

# --- Static files -----------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# In development whitenoise serves straight from the app folders, so the demo
# needs no collectstatic step.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG

# --- Security ---------------------------------------------------------------
SESSION_COOKIE_SECURE = env_bool("LIENTHONG_SECURE_COOKIES", default=PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_NAME = "lienthong_session"
CSRF_COOKIE_NAME = "lienthong_csrf"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_HSTS_SECONDS = env_int("LIENTHONG_HSTS_SECONDS", 31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = False
SECURE_SSL_REDIRECT = env_bool("LIENTHONG_SSL_REDIRECT", default=False)
# Addresses of reverse proxies whose X-Forwarded-For is believed (audit IPs).
TRUSTED_PROXIES = frozenset(env_list("LIENTHONG_TRUSTED_PROXIES"))
if env_bool("LIENTHONG_BEHIND_PROXY", default=False):
    # Only when a TLS-terminating proxy that sets this header is in front.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("LIENTHONG_MAX_REQUEST_BYTES", 5 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Logging: readable in development, JSON lines in production -------------
LOG_FORMAT = env_choice(
    "LIENTHONG_LOG_FORMAT", ("json", "console"), "json" if PRODUCTION else "console"
)
LOG_LEVEL = env_str("LIENTHONG_LOG_LEVEL", "INFO").upper()
LOGGING = build_logging(LOG_FORMAT, LOG_LEVEL)

# --- Trust: signature validation (lienthong.trust.validation) --------------
TRUST_REVOCATION_MODE = env_choice(
    "LIENTHONG_REVOCATION_MODE", ("soft-fail", "hard-fail", "require"), "soft-fail"
)
TRUST_FETCH_REVOCATION = env_bool("LIENTHONG_FETCH_REVOCATION", default=True)
TRUST_VALIDATION_TIMEOUT = env_int("LIENTHONG_VALIDATION_TIMEOUT", 30)
TRUST_VALIDATION_MEMORY_BYTES = env_int("LIENTHONG_VALIDATION_MEMORY_MB", 1024) * 1024 * 1024
TRUST_MAX_DOCUMENT_BYTES = env_int("LIENTHONG_MAX_DOCUMENT_MB", 20) * 1024 * 1024
TRUST_REPORT_RETENTION_DAYS = env_int("LIENTHONG_REPORT_RETENTION_DAYS", 30)
# Public validation page and API: uploads per client address ("N/s", "N/m", "N/10m",
# "N/h"; counted by identity.throttle.rate_exceeded).
TRUST_VALIDATION_RATE = env_str("LIENTHONG_VALIDATION_RATE", "30/10m")
# Anonymous dossier look-ups (code + phone or ID number) per client address.
PORTAL_LOOKUP_RATE = env_str("LIENTHONG_PORTAL_LOOKUP_RATE", "10/10m")

# --- The exchange (lienthong.exchange) ---------------------------------------
EXCHANGE_MAX_ENVELOPE_BYTES = env_int("LIENTHONG_EXCHANGE_MAX_ENVELOPE_BYTES", 1_400_000)
EXCHANGE_MAX_BATCH = env_int("LIENTHONG_EXCHANGE_MAX_BATCH", 500)
# Each attachment file an envelope references travels separately, streamed, up to this size.
EXCHANGE_MAX_ATTACHMENT_BYTES = env_int(
    "LIENTHONG_EXCHANGE_MAX_ATTACHMENT_BYTES", 200 * 1024 * 1024
)
# A receiver refuses envelopes created further ahead of its clock than this
# (seconds), and older than the replay window.
EXCHANGE_MAX_CLOCK_SKEW = env_int("LIENTHONG_EXCHANGE_MAX_CLOCK_SKEW", 300)
EXCHANGE_REPLAY_WINDOW = env_int("LIENTHONG_EXCHANGE_REPLAY_WINDOW", 7 * 24 * 3600)
# Delivery: envelopes per request, attempts before a dead letter, backoff.
EXCHANGE_BATCH_SIZE = env_int("LIENTHONG_EXCHANGE_BATCH_SIZE", 100)
EXCHANGE_MAX_ATTEMPTS = env_int("LIENTHONG_EXCHANGE_MAX_ATTEMPTS", 12)
EXCHANGE_BACKOFF_SECONDS = env_int("LIENTHONG_EXCHANGE_BACKOFF_SECONDS", 2)
EXCHANGE_BACKOFF_CAP_SECONDS = env_int("LIENTHONG_EXCHANGE_BACKOFF_CAP_SECONDS", 3600)
EXCHANGE_LEASE_SECONDS = env_int("LIENTHONG_EXCHANGE_LEASE_SECONDS", 120)
EXCHANGE_HTTP_TIMEOUT = env_int("LIENTHONG_EXCHANGE_HTTP_TIMEOUT", 30)
# The worker: requests in flight per round (distinct dossiers in parallel), and the
# longest idle wait when nothing wakes it (exchange/wake.py).
EXCHANGE_IN_FLIGHT = env_int("LIENTHONG_EXCHANGE_IN_FLIGHT", 4)
EXCHANGE_WAKE_FALLBACK_SECONDS = env_int("LIENTHONG_EXCHANGE_WAKE_FALLBACK_SECONDS", 5)
# How long a process keeps the directory facts every message consults (who is
# hosted, rights, endpoints, keys: exchange/facts.py); 0 asks the database each time.
EXCHANGE_FACTS_SECONDS = env_int("LIENTHONG_EXCHANGE_FACTS_SECONDS", 5)
# Synchronous queries (exchange/queries.py): the largest request or response body
# carried, and how long a client's node waits for the provider's node.
EXCHANGE_QUERY_MAX_BYTES = env_int("LIENTHONG_EXCHANGE_QUERY_MAX_BYTES", 2 * 1024 * 1024)
EXCHANGE_QUERY_TIMEOUT = env_int("LIENTHONG_EXCHANGE_QUERY_TIMEOUT", 30)
# Default age (days) for `exchange archive-log` and `exchange purge-messages`.
EXCHANGE_RETENTION_DAYS = env_int("LIENTHONG_EXCHANGE_RETENTION_DAYS", 365)
# What the worker hands received envelopes to, each round: the apps that act on
# them (dotted paths of callables taking no argument and returning what they applied).
EXCHANGE_INBOUND_CONSUMERS = ["lienthong.dossiers.interconnection.apply_pending"]
# Mutual TLS between nodes (exchange/tls.py). Receiving: `lienthong serve --exchange`
# listens on EXCHANGE_LISTEN_PORT with the node's certificate and requires a client
# certificate issued under EXCHANGE_TLS_CLIENT_CA (default: the trust list); the
# public listener then refuses node-to-node calls. Sending: this node's client
# certificate, and the CA bundle its peers' server certificates must lead to
# (default: the trust list). Files, PEM; the key unencrypted PKCS#8, owner-only.
EXCHANGE_LISTEN_PORT = env_int("LIENTHONG_EXCHANGE_LISTEN_PORT", 0)
TLS_CERTIFICATE = env_str("LIENTHONG_TLS_CERTIFICATE")
TLS_PRIVATE_KEY = env_str("LIENTHONG_TLS_PRIVATE_KEY")
EXCHANGE_TLS_CLIENT_CA = env_str("LIENTHONG_EXCHANGE_TLS_CLIENT_CA")
EXCHANGE_TLS_CLIENT_CERT = env_str("LIENTHONG_EXCHANGE_TLS_CLIENT_CERT")
EXCHANGE_TLS_CLIENT_KEY = env_str("LIENTHONG_EXCHANGE_TLS_CLIENT_KEY")
EXCHANGE_TLS_CA = env_str("LIENTHONG_EXCHANGE_TLS_CA")
# Which listener this process serves: "public" (pages, APIs) or "exchange" (set by
# `lienthong serve --exchange`: node-to-node calls only, over mutual TLS).
LISTENER = env_choice("LIENTHONG_LISTENER", ("public", "exchange"), "public")
# The exchange listener's: signed node-to-node calls only (ListenerMiddleware refuses
# anything else), so no pages, cookies, sessions, users or static files, and none of
# their middleware; security headers, host check and audit context as everywhere.
EXCHANGE_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "lienthong.middleware.RefuseNulMiddleware",
    "lienthong.exchange.tls.ListenerMiddleware",
    "django.middleware.common.CommonMiddleware",
    "lienthong.audit.middleware.AuditContextMiddleware",
]
if LISTENER == "exchange":
    MIDDLEWARE = EXCHANGE_MIDDLEWARE

# RFC 3161 time-stamping authority: timestamps of the message log's head, every
# so many seconds (by the worker).
TSA_URL = env_str("LIENTHONG_TSA_URL")
EXCHANGE_LOG_TIMESTAMP_SECONDS = env_int("LIENTHONG_EXCHANGE_LOG_TIMESTAMP_SECONDS", 3600)
# Message-log records older than this move to archive files (`exchange archive-log`).
EXCHANGE_LOG_RETENTION_DAYS = env_int(
    "LIENTHONG_EXCHANGE_LOG_RETENTION_DAYS", EXCHANGE_RETENTION_DAYS
)
# OCSP responses and CRLs past their nextUpdate are kept this long as the proof of
# what the node knew when it accepted a signature (evidence archives carry them).
TRUST_REVOCATION_KEEP_DAYS = env_int("LIENTHONG_REVOCATION_KEEP_DAYS", 3650)
if TRUST_REVOCATION_KEEP_DAYS < 0:
    raise ConfigurationError(
        f"LIENTHONG_REVOCATION_KEEP_DAYS: expected 0 or more days, got {TRUST_REVOCATION_KEEP_DAYS}"
    )

# Prometheus metrics (/metrics): a bearer token; without one, loopback clients only.
METRICS_TOKEN = env_str("LIENTHONG_METRICS_TOKEN")

# Dossiers (lienthong.dossiers): the largest attachment accepted (bytes), the file
# types accepted when a procedure's document names none, where attachments are
# kept (default <data dir>/dossiers) and how the citizen is told of a status change.
DOSSIERS_MAX_ATTACHMENT_BYTES = env_int("LIENTHONG_DOSSIERS_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024)
DOSSIERS_ACCEPTED_TYPES = env_list("LIENTHONG_DOSSIERS_ACCEPTED_TYPES", ["pdf", "jpg", "png"])
DOSSIERS_STORAGE_DIR = Path(
    env_str("LIENTHONG_DOSSIERS_STORAGE_DIR", str(DATA_DIR / "dossiers"))
).resolve()
DOSSIERS_NOTIFY_BACKENDS = env_list("LIENTHONG_DOSSIERS_NOTIFY_BACKENDS", ["console"])
DOSSIERS_PAYMENT_BACKEND = env_str("LIENTHONG_DOSSIERS_PAYMENT_BACKEND", "console")
# The VNPAY gateway (payment backend "vnpay"): the merchant's terminal code, the
# hash secret (LIENTHONG_VNPAY_HASH_SECRET_FILE to read it from a file), the
# gateway's payment page, and how long a payment page stays open (minutes).
VNPAY_TMN_CODE = env_str("LIENTHONG_VNPAY_TMN_CODE", "")
VNPAY_HASH_SECRET = env_str("LIENTHONG_VNPAY_HASH_SECRET", "")
VNPAY_URL = env_str("LIENTHONG_VNPAY_URL", "")
VNPAY_EXPIRE_MINUTES = env_int("LIENTHONG_VNPAY_EXPIRE_MINUTES", 15)
# VNPAY's merchant API (transaction query and refund, JSON by POST), e.g. the
# sandbox's https://sandbox.vnpayment.vn/merchant_webapi/api/transaction.
VNPAY_API_URL = env_str("LIENTHONG_VNPAY_API_URL", "")
# Whether `lienthong dossiers payments refund` refunds money taken twice through
# the gateway (off: officers refund from the back office).
DOSSIERS_PAYMENT_AUTO_REFUND = env_bool("LIENTHONG_DOSSIERS_PAYMENT_AUTO_REFUND", default=True)

# --- The directory ----------------------------------------------------------
# Signed snapshots: the agency whose key signs them (on the central node), how
# long one is valid, and how often a following node pulls.
DIRECTORY_AUTHORITY = env_str("LIENTHONG_DIRECTORY_AUTHORITY", "000.00.00.G22")
DIRECTORY_SNAPSHOT_DAYS = env_int("LIENTHONG_DIRECTORY_SNAPSHOT_DAYS", 7)
DIRECTORY_POLL_SECONDS = env_int("LIENTHONG_DIRECTORY_POLL_SECONDS", 600)
DIRECTORY_PAGE_SIZE = env_int("LIENTHONG_DIRECTORY_PAGE_SIZE", 50)

# --- Identity: accounts, second factors, sessions (lienthong.identity) --------
# Sessions end after this long without a request, and this long after sign-in.
IDENTITY_SESSION_IDLE_SECONDS = env_int("LIENTHONG_IDENTITY_SESSION_IDLE_SECONDS", 30 * 60)
IDENTITY_SESSION_ABSOLUTE_SECONDS = env_int(
    "LIENTHONG_IDENTITY_SESSION_ABSOLUTE_SECONDS", 12 * 3600
)
SESSION_COOKIE_AGE = IDENTITY_SESSION_ABSOLUTE_SECONDS
# Time allowed between the password and the second factor.
IDENTITY_PENDING_SECONDS = env_int("LIENTHONG_IDENTITY_PENDING_SECONDS", 5 * 60)
# Sensitive actions need a passkey or code proved this recently (step-up).
IDENTITY_STEP_UP_SECONDS = env_int("LIENTHONG_IDENTITY_STEP_UP_SECONDS", 5 * 60)
# Lockout: wrong passwords or codes per identifier, and per client address,
# within (and locked for) IDENTITY_LOCKOUT_SECONDS.
IDENTITY_MAX_FAILURES = env_int("LIENTHONG_IDENTITY_MAX_FAILURES", 5)
IDENTITY_MAX_FAILURES_PER_ADDRESS = env_int("LIENTHONG_IDENTITY_MAX_FAILURES_PER_ADDRESS", 50)
IDENTITY_LOCKOUT_SECONDS = env_int("LIENTHONG_IDENTITY_LOCKOUT_SECONDS", 15 * 60)
# Where failure counters live: "database" (a table of counters, incremented
# atomically) or "cache" (the shared cache above; Redis increments atomically).
IDENTITY_THROTTLE_STORE = env_choice(
    "LIENTHONG_IDENTITY_THROTTLE_STORE",
    ("database", "cache"),
    "cache" if CACHE_URL.startswith(("redis://", "rediss://")) else "database",
)
# Password reset links: valid this long, and used once (Django's token
# generator; the link dies when the password changes or the user signs in).
PASSWORD_RESET_TIMEOUT = env_int("LIENTHONG_IDENTITY_RESET_SECONDS", 30 * 60)
# Reset requests per identifier, and per client address, within the lockout window.
IDENTITY_MAX_RESETS = env_int("LIENTHONG_IDENTITY_MAX_RESETS", 3)
IDENTITY_MAX_RESETS_PER_ADDRESS = env_int("LIENTHONG_IDENTITY_MAX_RESETS_PER_ADDRESS", 20)
# SMS one-time codes: gateway (console, file, memory or a dotted class path),
# validity and the pause before another code may be sent.
IDENTITY_SMS_BACKEND = env_str("LIENTHONG_IDENTITY_SMS_BACKEND", "console")
IDENTITY_SMS_CODE_SECONDS = env_int("LIENTHONG_IDENTITY_SMS_CODE_SECONDS", 5 * 60)
IDENTITY_SMS_RESEND_SECONDS = env_int("LIENTHONG_IDENTITY_SMS_RESEND_SECONDS", 60)
# Passkeys (WebAuthn): the relying-party id is the site's domain; the origins
# are the exact https://host[:port] the pages are served from. In production
# they default to the first host name of ALLOWED_HOSTS and https:// on it;
# elsewhere to localhost (any port), where browsers allow WebAuthn without TLS.
_host_names = [h for h in ALLOWED_HOSTS if h[:1].isalpha() and h != "localhost" and "*" not in h]
IDENTITY_RP_ID = env_str(
    "LIENTHONG_IDENTITY_RP_ID",
    (_host_names[0] if _host_names else "") if PRODUCTION else "localhost",
)
IDENTITY_RP_NAME = env_str("LIENTHONG_IDENTITY_RP_NAME", "Liên Thông")
IDENTITY_ORIGINS = env_list(
    "LIENTHONG_IDENTITY_ORIGINS",
    [f"https://{IDENTITY_RP_ID}"] if PRODUCTION and IDENTITY_RP_ID else [],
)

# --- Approvals on the phone (lienthong.approvals, docs/approvals.md) ----------
# A pairing QR code / short code is valid this long; an approved request must
# be used by the computer within APPROVALS_CONSUME_SECONDS; a user may have at
# most APPROVALS_MAX_PENDING open requests and ask APPROVALS_MAX_PER_WINDOW
# times per APPROVALS_RATE_WINDOW_SECONDS; the phone app refreshes every
# APPROVALS_POLL_SECONDS and keeps its pairing cookie APPROVALS_DEVICE_COOKIE_DAYS.
APPROVALS_PAIRING_SECONDS = env_int("LIENTHONG_APPROVALS_PAIRING_SECONDS", 5 * 60)
APPROVALS_SIGN_IN_SECONDS = env_int("LIENTHONG_APPROVALS_SIGN_IN_SECONDS", 120)
APPROVALS_CONSUME_SECONDS = env_int("LIENTHONG_APPROVALS_CONSUME_SECONDS", 120)
APPROVALS_MAX_PENDING = env_int("LIENTHONG_APPROVALS_MAX_PENDING", 5)
APPROVALS_MAX_PER_WINDOW = env_int("LIENTHONG_APPROVALS_MAX_PER_WINDOW", 10)
APPROVALS_RATE_WINDOW_SECONDS = env_int("LIENTHONG_APPROVALS_RATE_WINDOW_SECONDS", 10 * 60)
APPROVALS_POLL_SECONDS = env_int("LIENTHONG_APPROVALS_POLL_SECONDS", 3)
APPROVALS_DEVICE_COOKIE_DAYS = env_int("LIENTHONG_APPROVALS_DEVICE_COOKIE_DAYS", 365)

# --- Remote signing (lienthong.signing, docs/signing.md) ---------------------
# A signature authorisation (SAD) is valid this long and once; a user may ask
# for SIGNING_AUTHORIZE_PER_MINUTE authorisations a minute; one signHash signs
# at most SIGNING_MAX_BATCH hashes. Access tokens for CSC clients live
# SIGNING_TOKEN_SECONDS unless asked shorter (never over SIGNING_TOKEN_MAX_SECONDS).
# SIGNING_PROVIDER: "local" (this node's keys) or "csc" (an external CSC API v2
# service at SIGNING_CSC_URL, e.g. a licensed CA's remote signing).
SIGNING_SAD_SECONDS = env_int("LIENTHONG_SIGNING_SAD_SECONDS", 5 * 60)
SIGNING_AUTHORIZE_PER_MINUTE = env_int("LIENTHONG_SIGNING_AUTHORIZE_PER_MINUTE", 10)
SIGNING_MAX_BATCH = env_int("LIENTHONG_SIGNING_MAX_BATCH", 100)
SIGNING_TOKEN_SECONDS = env_int("LIENTHONG_SIGNING_TOKEN_SECONDS", 60 * 60)
SIGNING_TOKEN_MAX_SECONDS = env_int("LIENTHONG_SIGNING_TOKEN_MAX_SECONDS", 12 * 60 * 60)
SIGNING_PROVIDER = env_choice("LIENTHONG_SIGNING_PROVIDER", ("local", "csc"), "local")
SIGNING_CSC_URL = env_str("LIENTHONG_SIGNING_CSC_URL", "")
# How users link their account at that service (docs/signing.md "External provider"):
# "token" (a token the service gave them, entered once) or "oauth2" (its CSC
# oauth2/authorize flow, as the client SIGNING_CSC_CLIENT_ID registered there;
# SIGNING_CSC_OAUTH_URL when its authorization server is elsewhere).
SIGNING_CSC_LINK = env_choice("LIENTHONG_SIGNING_CSC_LINK", ("token", "oauth2"), "token")
SIGNING_CSC_OAUTH_URL = env_str("LIENTHONG_SIGNING_CSC_OAUTH_URL", "")
SIGNING_CSC_CLIENT_ID = env_str("LIENTHONG_SIGNING_CSC_CLIENT_ID", "")
SIGNING_CSC_CLIENT_SECRET = env_str("LIENTHONG_SIGNING_CSC_CLIENT_SECRET", "")
