"""The TEST PKI: both national hierarchies in miniature, for the demo and the tests.

Vietnam has two roots: NEAC's, under which the licensed public CAs certify
citizens and businesses, and the Government Cipher Committee's (Ban Cơ yếu
Chính phủ), under which the government CA certifies agencies and officials.
``init_test_pki`` builds a look-alike of each with certomancer, from the
template data/test-pki.yaml, and ``wsgi_app`` serves their OCSP responders,
CRLs, certificate repositories and an RFC 3161 time-stamping authority::

    public-root    TEST Public Root CA (NEAC-like), RSA 2048
      public-ca-1    → citizen, tsa
      public-ca-2    → business
      government-root-cross  (the government root's key, certified by the public root)
    government-root  TEST Government Root CA (Ban Cơ yếu-like), RSA 2048
      government-ca  → agency (RSA 2048), officer, node-tls
      public-root-cross      (the public root's key, certified by the government root)

plus one delegated OCSP responder per CA (``ocsp-<ca>``). Other keys are
ECDSA P-256; every signature is SHA-256 (Circular 15/2025/TT-BKHCN refuses
RSA under 2048 bits and ECDSA under 256).

Cross-certification goes both ways, so a relying party that trusts only one
root still validates the other hierarchy's signatures: a citizen's node
trusting NEAC reaches an officer through ``government-root-cross``, an agency
trusting Ban Cơ yếu reaches a citizen through ``public-root-cross``. The
cross-certificates allow one CA below them (path length 1), so no path runs
through both.

Every name says TEST. Keys are generated afresh by every ``init`` and stay in
the PKI folder (owner-only); certomancer's YAML configuration there is the
state, and ``revoke`` records a revocation in it. Certificates are written
once and read back from files afterwards: ECDSA signatures are randomised,
so certomancer regenerating them would change every fingerprint on each load.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from certomancer.integrations.animator import Animator, AnimatorArchStore
from certomancer.registry import (
    ArchLabel,
    CertificateSpec,
    CertLabel,
    CertomancerConfig,
    CertomancerObjectNotFoundError,
    PKIArchitecture,
    ServiceLabel,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import rsa as asymmetric_rsa
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from lienthong.audit import services as audit
from lienthong.audit.models import AuditRecord
from lienthong.trust import selectors, services
from lienthong.trust.models import TrustedCertificate

DEFAULT_BASE_URL = "http://127.0.0.1:9780"
ARCH = "lienthong-test"
CONFIG_FILE = "certomancer.yaml"
TEMPLATE = "test-pki.yaml"
TEST_PKI_SOURCE = "test-pki"

# ECDSA P-256 for the rest: as strong for these purposes, and generated at once.
RSA_KEYS = frozenset({"public-root", "government-root", "agency"})
CERTIFICATION_AUTHORITIES = (
    "public-root",
    "public-ca-1",
    "public-ca-2",
    "government-root",
    "government-ca",
)
# The subscribers, each exported as PKCS#12 for the signing work to import.
END_ENTITIES = ("agency", "officer", "citizen", "business", "node-tls", "tsa")
# (label, hierarchy, kind) of what the node trusts or builds paths with. A
# cross-certificate is filed under the hierarchy of the root it certifies:
# NEAC's root certifying Ban Cơ yếu's key is a certificate of the government
# root (as the trust list's own tests file it).
TRUST_LIST = (
    ("public-root", "public", "root"),
    ("public-ca-1", "public", "intermediate"),
    ("public-ca-2", "public", "intermediate"),
    ("public-root-cross", "public", "cross"),
    ("government-root", "government", "root"),
    ("government-ca", "government", "intermediate"),
    ("government-root-cross", "government", "cross"),
)

# A revocation reaches OCSP at once and the CRLs at their next issue:
# certomancer issues CRLs on this schedule, counted from the CA's start.
CRL_UPDATE_SCHEDULE = dt.timedelta(minutes=1)

REVOCATION_REASONS = (
    "key_compromise",
    "affiliation_changed",
    "superseded",
    "cessation_of_operation",
    "privilege_withdrawn",
    "ca_compromise",
    "unspecified",
)


class TestPKIError(Exception):
    """A one-line reason the TEST PKI cannot do what was asked; nothing was changed."""

    __test__ = False


@dataclass(frozen=True)
class CertificateInfo:
    label: str
    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    is_ca: bool
    revoked_at: dt.datetime | None
    revocation_reason: str | None


class TestPKI:
    """A TEST PKI folder, loaded: certomancer's architecture and the files around it."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, directory: Path, config: CertomancerConfig):
        self.directory = directory
        self.config = config
        self.arch: PKIArchitecture = config.get_pki_arch(ArchLabel(ARCH))

    @property
    def base_url(self) -> str:
        """Where the services are reached, as written in every AIA and CRL distribution point."""
        return self.config.external_url_prefix

    @property
    def labels(self) -> list[str]:
        return [
            spec.label.value for _, specs in self.arch.enumerate_certs_by_issuer() for spec in specs
        ]

    def spec(self, label: str) -> CertificateSpec:
        """certomancer's specification of the certificate ``label`` (TestPKIError if unknown)."""
        try:
            return self.arch.get_cert_spec(CertLabel(label))
        except CertomancerObjectNotFoundError:
            raise TestPKIError(
                f"no certificate labelled '{label}' (known: {', '.join(sorted(self.labels))})"
            ) from None

    def certificate(self, label: str) -> asn1_x509.Certificate:
        self.spec(label)
        return self.arch.get_cert(CertLabel(label))

    def private_key(self, label: str) -> asn1_keys.PrivateKeyInfo:
        return self.arch.key_set.get_private_key(self.spec(label).subject_key)

    def certificate_path(self, label: str) -> Path:
        """The certificate as a PEM file (for TLS servers and tools that want files)."""
        self.spec(label)
        return self.directory / "certs" / f"{label}.cert.pem"

    def key_path(self, label: str) -> Path:
        """The private key as an unencrypted PKCS#8 PEM file, readable by its owner only."""
        return self.directory / "keys" / f"{self.spec(label).subject_key}.key.pem"

    def chain(self, label: str) -> list[asn1_x509.Certificate]:
        """The issuers of ``label`` up to its own hierarchy's root (no cross-certificate)."""
        self.spec(label)
        return [self.arch.get_cert(issuer) for issuer in self.arch.get_chain(CertLabel(label))]

    @property
    def p12_files(self) -> dict[str, Path]:
        return {label: self.p12_path(label) for label in END_ENTITIES}

    def p12_path(self, label: str) -> Path:
        if label not in END_ENTITIES:
            raise TestPKIError(f"'{label}' has no PKCS#12 file: only end entities do")
        return self.directory / "p12" / f"{label}.p12"

    def p12_passphrase(self, label: str) -> bytes:
        return _passphrase_path(self.p12_path(label)).read_bytes().strip()

    def revocation(self, label: str) -> tuple[dt.datetime, str] | None:
        """When and why ``label`` was revoked, or None."""
        revocation = self.spec(label).revocation
        if revocation is None:
            return None
        return revocation.revoked_since, revocation.reason.native if revocation.reason else ""

    def certificates(self) -> list[CertificateInfo]:
        infos = []
        for label in self.labels:
            cert = x509.load_der_x509_certificate(self.certificate(label).dump())
            revocation = self.revocation(label)
            infos.append(
                CertificateInfo(
                    label=label,
                    subject=cert.subject.rfc4514_string(),
                    issuer=cert.issuer.rfc4514_string(),
                    not_before=cert.not_valid_before_utc,
                    not_after=cert.not_valid_after_utc,
                    is_ca=self.certificate(label).ca,
                    revoked_at=revocation[0] if revocation else None,
                    revocation_reason=revocation[1] if revocation else None,
                )
            )
        return infos

    def ocsp_url(self, ca: str) -> str:
        return self.arch.service_registry.get_ocsp_info(ServiceLabel(ca)).url

    def crl_url(self, ca: str) -> str:
        return self.arch.service_registry.get_crl_repo_info(ServiceLabel(ca)).latest_external_url

    def ca_certificate_url(self, ca: str) -> str:
        return self.arch.service_registry.get_cert_repo_info(ServiceLabel(ca)).issuer_cert_url(
            use_pem=False
        )

    @property
    def tsa_url(self) -> str:
        return self.arch.service_registry.get_tsa_info(ServiceLabel("tsa")).url

    def service_urls(self) -> list[tuple[str, str]]:
        """``(what, url)`` for every service, in the order an operator reads them."""
        urls = [("time-stamping (RFC 3161)", self.tsa_url)]
        for ca in CERTIFICATION_AUTHORITIES:
            urls += [
                (f"OCSP   {ca}", self.ocsp_url(ca)),
                (f"CRL    {ca}", self.crl_url(ca)),
                (f"cert   {ca}", self.ca_certificate_url(ca)),
            ]
        return urls


# --- Building ----------------------------------------------------------------


def default_directory() -> Path:
    return Path(settings.DATA_DIR) / "pki"


def build_test_pki(*, directory: Path, base_url: str, force: bool = False) -> TestPKI:
    """Write a fresh TEST PKI into ``directory`` (files only: no trust list, no audit).

    ``init_test_pki`` is the service; this is its file half, for tests that
    need a PKI of their own without a database. The PKI is built in a
    sibling folder and moved into place at the end, so a failure leaves any
    existing PKI as it was.
    """
    directory = Path(directory)
    _check_replaceable(directory, force=force)
    base_url = _checked_base_url(base_url)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-new-", dir=directory.parent))
    try:
        _build_into(staging, base_url)
        _swap_into_place(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return load_test_pki(directory)


def _checked_base_url(base_url: str) -> str:
    if not base_url.startswith(("http://", "https://")):
        raise TestPKIError(f"the base URL must start with http:// or https://, not '{base_url}'")
    return base_url.rstrip("/")


def _check_replaceable(directory: Path, *, force: bool) -> None:
    if (directory / CONFIG_FILE).exists():
        if not force:
            raise TestPKIError(
                f"a test PKI already exists in {directory} (use --force to replace it)"
            )
    elif directory.exists() and any(directory.iterdir()):
        # Never removed, even with force: it is someone else's folder.
        raise TestPKIError(f"{directory} is not empty and holds no test PKI; choose another folder")


def _swap_into_place(staging: Path, directory: Path) -> None:
    if directory.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{directory.name}-old-", dir=directory.parent))
        directory.rename(old / "pki")
        staging.rename(directory)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(directory)


def _build_into(folder: Path, base_url: str) -> None:
    folder.chmod(0o700)
    config = _config(base_url, now=timezone.now())
    (folder / "keys").mkdir()
    for label in config["keysets"][ARCH]["keys"]:
        _write_private(folder / "keys" / f"{label}.key.pem", _new_key_pem(rsa=label in RSA_KEYS))
    arch = _load_config(folder, config).get_pki_arch(ArchLabel(ARCH))
    arch.dump_certs(str(folder / "certs"), flat=True)
    # From now on certomancer reads the certificates back instead of re-signing them.
    for label, spec in _certs(config).items():
        spec["certificate-file"] = f"certs/{label}.cert.pem"
    _write_config(folder, config)
    pki = TestPKI(folder, _load_config(folder, config))
    (folder / "p12").mkdir()
    for label in END_ENTITIES:
        passphrase = secrets.token_urlsafe(18)
        path = pki.p12_path(label)
        _write_private(
            path, pki.arch.package_pkcs12(CertLabel(label), password=passphrase.encode())
        )
        _write_private(_passphrase_path(path), f"{passphrase}\n".encode())


def _passphrase_path(p12: Path) -> Path:
    return p12.with_name(p12.name + ".passphrase")


def _new_key_pem(*, rsa: bool) -> bytes:
    key = (
        asymmetric_rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if rsa
        else ec.generate_private_key(ec.SECP256R1())
    )
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _years_later(moment: dt.datetime, years: int) -> dt.datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


def _certs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return config["pki-architectures"][ARCH]["certs"]


def _config(base_url: str, *, now: dt.datetime) -> dict[str, Any]:
    """The template (data/test-pki.yaml) completed for a new PKI: the rules every certificate follows."""
    template = resources.files("lienthong.trust").joinpath("data", TEMPLATE).read_text("utf-8")
    config = yaml.load(template, Loader=_YAML_LOADER)  # noqa: S506 (a safe loader)
    arch = config["pki-architectures"][ARCH]
    # One copy per certificate: the template's YAML merge keys share lists between them.
    certs = arch["certs"] = {label: copy.deepcopy(spec) for label, spec in arch["certs"].items()}
    config["external-url-prefix"] = base_url
    config["keysets"] = {
        ARCH: {
            "path-prefix": "keys",
            "keys": {label: {"path": f"{label}.key.pem"} for label in arch["entities"]},
        }
    }

    # An hour of slack, so a machine whose clock runs a little behind still
    # sees the certificates as valid.
    start = now.replace(microsecond=0) - dt.timedelta(hours=1)
    crosses = {
        label: (spec["subject"], spec["issuer"])
        for label, spec in certs.items()
        if _is_cross(label, spec)
    }
    for spec in certs.values():
        profiles = [p if isinstance(p, str) else p["id"] for p in spec.get("profiles", [])]
        years = 10 if _is_root(spec) else 5 if "simple-ca" in profiles else 1
        end = _years_later(start, years)
        spec["validity"] = {"valid-from": start.isoformat(), "valid-to": end.isoformat()}
        spec["serial"] = secrets.randbits(63) | 1 << 62  # 63 random bits, always 19 digits
        if _is_root(spec) or "ocsp-responder" in profiles:
            continue  # a trust anchor is not checked; a responder is id-pkix-ocsp-nocheck
        spec["extensions"] = [*spec.get("extensions", []), *_revocation_pointers(spec, crosses)]

    services = arch["services"]
    for ca in CERTIFICATION_AUTHORITIES:
        ca_cert = {"for-issuer": ca, "issuer-cert": ca}
        services.setdefault("ocsp", {})[ca] = {**ca_cert, "responder-cert": f"ocsp-{ca}"}
        services.setdefault("cert-repo", {})[ca] = ca_cert
        services.setdefault("crl-repo", {})[ca] = {
            **ca_cert,
            "simulated-update-schedule": f"PT{int(CRL_UPDATE_SCHEDULE.total_seconds())}S",
        }
    return config


def _is_root(spec: dict[str, Any]) -> bool:
    return spec["issuer"] == spec["subject"]


def _is_cross(label: str, spec: dict[str, Any]) -> bool:
    return label != spec["subject"] and not _is_root(spec)


def _revocation_pointers(
    spec: dict[str, Any], crosses: dict[str, tuple[str, str]]
) -> list[dict[str, Any]]:
    """CRL distribution point and AIA: where a relying party finds the issuer and its status.

    The AIA also names the cross-certificate for the issuer's key, if any, so
    validators that chase AIA find the way up to the other root.
    """
    issuer = spec["issuer"]
    ca_issuers: list[dict[str, Any]] = [{"repo": issuer}]
    for cross, (subject, cross_issuer) in crosses.items():
        if subject == issuer:
            ca_issuers.append(
                {"repo": cross_issuer, "include-repo-authority": False, "cert-labels": [cross]}
            )
    return [
        {
            "id": "crl_distribution_points",
            "smart-value": {"schema": "crl-dist-url", "params": {"crl-repo-names": [issuer]}},
        },
        {
            "id": "authority_information_access",
            "smart-value": {
                "schema": "aia-urls",
                "params": {"ocsp-responder-names": [issuer], "ca-issuer-links": ca_issuers},
            },
        },
    ]


# libyaml when present: the pure-Python parser takes a noticeable part of every load.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _load_config(folder: Path, config: dict[str, Any]) -> CertomancerConfig:
    # Keys are read when first used: checking an RSA key is slow, and serving
    # OCSP or a CRL needs only one or two of them.
    return CertomancerConfig(
        config, key_search_dir=str(folder), config_search_dir=str(folder), lazy_load_keys=True
    )


def _write_config(folder: Path, config: dict[str, Any]) -> None:
    text = (
        "# TEST PKI of Liên Thông, written by `lienthong pki init`: certomancer's configuration.\n"
        "# Revocations are recorded here by `lienthong pki revoke`. Not for production use.\n"
        + yaml.dump(config, Dumper=_YAML_DUMPER, sort_keys=False, allow_unicode=True)
    )
    temporary = folder / f".{CONFIG_FILE}.tmp"
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, folder / CONFIG_FILE)


def _read_config(directory: Path) -> dict[str, Any]:
    path = Path(directory) / CONFIG_FILE
    if not path.exists():
        raise TestPKIError(f"no test PKI in {directory}: run `lienthong pki init` first")
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)  # noqa: S506 (safe loader)


def load_test_pki(directory: Path) -> TestPKI:
    directory = Path(directory)
    return TestPKI(directory, _load_config(directory, _read_config(directory)))


# --- Services ------------------------------------------------------------------


def add_to_trust_list(pki: TestPKI, *, actor: Any) -> list[str]:
    """Put the roots, intermediates and cross-certificates on the trust list; labels added.

    A certificate already on the list is left as it is, so running this twice is harmless.
    """
    added = []
    for label, hierarchy, kind in TRUST_LIST:
        notes = "TEST PKI (lienthong pki init): never trust it in production."
        if kind == "cross":
            spec = pki.spec(label)
            notes += f" Cross-certificate: the {spec.subject} key, certified by the {spec.issuer}."
        try:
            services.add_certificate(
                actor=actor,
                data=pki.certificate(label).dump(),
                hierarchy=hierarchy,
                kind=kind,
                notes=notes,
                source=TEST_PKI_SOURCE,
            )
        except services.CertificateRefused as exc:
            if exc.code != "duplicate":
                raise TestPKIError(f"the trust list refused {label}: {exc}") from exc
        else:
            added.append(label)
    return added


def disable_in_trust_list(pki: TestPKI, *, actor: Any) -> list[str]:
    """Disable what ``add_to_trust_list`` put there (nothing is deleted); labels disabled."""
    disabled = []
    for label, _, _ in TRUST_LIST:
        try:
            trusted = selectors.by_fingerprint(pki.certificate(label).sha256.hex())
        except TrustedCertificate.DoesNotExist:
            continue
        if trusted.is_enabled:
            services.set_enabled(
                actor=actor, trusted=trusted, enabled=False, source=TEST_PKI_SOURCE
            )
            disabled.append(label)
    return disabled


def init_test_pki(
    *, directory: Path, base_url: str = DEFAULT_BASE_URL, actor: Any, force: bool = False
) -> TestPKI:
    """Create the TEST PKI in ``directory`` and trust its roots on this node.

    Refuses (TestPKIError) when a PKI is there already, unless ``force``;
    then the replaced PKI's certificates are disabled on the trust list, since
    their keys are about to be deleted.
    """
    directory = Path(directory)
    _check_replaceable(directory, force=force)
    _checked_base_url(base_url)
    replaced = load_test_pki(directory) if (directory / CONFIG_FILE).exists() else None
    with transaction.atomic():
        disabled = disable_in_trust_list(replaced, actor=actor) if replaced else []
        # The files are built first and swapped in before the transaction
        # commits: a refusal from the trust list leaves no new PKI behind.
        staging_parent = Path(
            tempfile.mkdtemp(prefix=".pki-init-", dir=_existing_parent(directory))
        )
        try:
            pki = build_test_pki(directory=staging_parent / "pki", base_url=base_url)
            added = add_to_trust_list(pki, actor=actor)
            audit.record(
                actor=actor,
                action=AuditRecord.Action.CREATE,
                object_type="trust.testpki",
                object_repr=f"TEST PKI in {directory}"[:255],
                changes={
                    "directory": str(directory),
                    "base_url": pki.base_url,
                    "replaced": replaced is not None,
                    "certificates": {
                        label: pki.certificate(label).sha256.hex() for label in pki.labels
                    },
                    "trusted": added,
                    "disabled": disabled,
                },
                source=TEST_PKI_SOURCE,
            )
            _swap_into_place(staging_parent / "pki", directory)
        finally:
            shutil.rmtree(staging_parent, ignore_errors=True)
    return load_test_pki(directory)


def _existing_parent(directory: Path) -> Path:
    directory.parent.mkdir(parents=True, exist_ok=True)
    return directory.parent


def revoke(
    *, directory: Path, label: str, reason: str = "key_compromise", actor: Any
) -> dt.datetime:
    """Revoke one certificate now; OCSP reports it at once, CRLs from their next issue.

    Returns the revocation time (whole seconds, UTC).
    """
    directory = Path(directory)
    if reason not in REVOCATION_REASONS:
        raise TestPKIError(f"unknown reason '{reason}' (one of: {', '.join(REVOCATION_REASONS)})")
    config = _read_config(directory)
    pki = TestPKI(directory, _load_config(directory, config))
    spec = pki.spec(label)
    if spec.self_signed:
        raise TestPKIError(
            f"'{label}' is a root: disable it in the trust list instead of revoking it"
        )
    if spec.revocation is not None:
        when = timezone.localtime(spec.revocation.revoked_since)
        raise TestPKIError(f"'{label}' was already revoked on {when:%d/%m/%Y %H:%M}")
    revoked_at = timezone.now().replace(microsecond=0)
    config["pki-architectures"][ARCH]["certs"][label]["revocation"] = {
        "revoked-since": revoked_at.isoformat(),
        "reason": reason,
    }
    with transaction.atomic():
        audit.record(
            actor=actor,
            action=AuditRecord.Action.UPDATE,
            object_type="trust.testpki.certificate",
            object_id=label,
            object_repr=x509.load_der_x509_certificate(
                pki.certificate(label).dump()
            ).subject.rfc4514_string()[:255],
            changes={
                "revoked_at": [None, revoked_at.isoformat()],
                "reason": [None, reason],
                "serial_number": f"{pki.certificate(label).serial_number:X}",
                "directory": str(directory),
            },
            source=TEST_PKI_SOURCE,
        )
        # Last, inside the transaction: if the file cannot be written, the
        # audit record rolls back with it.
        _write_config(directory, config)
    return revoked_at


class _Animator(Animator):
    def at_time(self, request) -> dt.datetime:
        # Whole seconds: RFC 5280 forbids fractions in GeneralizedTime, and
        # strict parsers (pyca/cryptography) refuse OCSP responses that have them.
        return super().at_time(request).replace(microsecond=0)


class _Services:
    """Certomancer's Animator over a PKI folder, reloaded when ``revoke`` rewrites it.

    So a running ``lienthong pki serve`` reports a revocation without a restart.
    """

    def __init__(self, directory: Path):
        self.path = Path(directory) / CONFIG_FILE
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._animator: _Animator | None = None

    def _current(self) -> _Animator:
        stat = os.stat(self.path)
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._stamp or self._animator is None:
                pki = load_test_pki(self.path.parent)
                # No web UI: it would hand out every private key as PKCS#12.
                self._animator = _Animator(
                    AnimatorArchStore({ArchLabel(ARCH): pki.arch}), with_web_ui=False
                )
                self._stamp = stamp
            return self._animator

    def __call__(self, environ, start_response) -> Iterable[bytes]:
        return self._current()(environ, start_response)


def wsgi_app(directory: Path) -> _Services:
    """The OCSP, CRL, time-stamping and certificate-repository services of the PKI in ``directory``."""
    _read_config(Path(directory))
    return _Services(Path(directory))
