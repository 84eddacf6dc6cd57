"""Evidence for one dossier: a self-contained archive anyone can verify offline.

``build(correlation_id)`` gathers, from this node's records, every envelope
sent or received under that correlation id (the dossier code), every receipt
that names them, the message-log records of both, and the trust anchors of
the node's trust list, into a ZIP archive::

    manifest.json                  what is inside, with the SHA-256 of every file
    envelopes/<envelope id>.jws    the signed envelopes (the certificates ride in x5c)
    receipts/<sha-256>.jws         the signed batch receipts naming them
    log.json                       their message-log records (digests, links, times)
    roots/<sha-256>.pem            the trusted roots the signatures lead to

``verify(data)`` needs nothing but the archive: every file matches the
manifest; every envelope and receipt signature verifies with the key of its
own certificate, whose path leads to one of the archive's roots at the time
the envelope says it was made; every receipt names the envelopes' SHA-256;
every log record's digest follows from its fields and the digest it links to.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from lienthong.exchange.envelope import format_time, parse_time

FORMAT = "lienthong-evidence/1"
_HASHES = {"RS256": hashes.SHA256(), "ES256": hashes.SHA256(), "ES384": hashes.SHA384(),
           "ES512": hashes.SHA512()}  # fmt: skip


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build(correlation_id: str) -> bytes:
    """The evidence archive of one correlation id, as ZIP bytes (empty: LookupError)."""
    from django.db.models import Q

    from lienthong.exchange.models import InboundMessage, LogRecord, OutboundMessage
    from lienthong.node import this_node
    from lienthong.trust import selectors

    sent = list(OutboundMessage.objects.filter(correlation_id=correlation_id).order_by("pk"))
    received = list(InboundMessage.objects.filter(correlation_id=correlation_id).order_by("pk"))
    if not sent and not received:
        raise LookupError(correlation_id)
    files: dict[str, bytes] = {}
    for message in [*sent, *received]:
        files[f"envelopes/{message.envelope_id}.jws"] = message.token.encode("ascii")
        if message.receipt:
            files[f"receipts/{_sha256(message.receipt.encode())}.jws"] = message.receipt.encode()
    ids = [m.envelope_id for m in [*sent, *received]]
    receipt_digests = [name[9:-4] for name in files if name.startswith("receipts/")]
    records = LogRecord.objects.filter(
        Q(envelope_id__in=ids) | Q(content_sha256__in=receipt_digests)
    ).order_by("sequence")
    files["log.json"] = json.dumps(
        [
            {
                "sequence": r.sequence,
                "kind": r.kind,
                "envelope_id": r.envelope_id,
                "correlation_id": r.correlation_id,
                "recorded_at": format_time(r.recorded_at),
                "content_sha256": r.content_sha256,
                "previous_digest": r.previous_digest,
                "digest": r.digest,
            }
            for r in records
        ],
        indent=1,
    ).encode()
    for root in selectors.anchors():
        pem = x509.load_der_x509_certificate(root.dump()).public_bytes(serialization.Encoding.PEM)
        files[f"roots/{_sha256(root.dump())}.pem"] = pem
    manifest = {
        "format": FORMAT,
        "correlation_id": correlation_id,
        "node": this_node().identifier,
        "created_at": format_time(dt.datetime.now(dt.UTC)),
        "files": {name: _sha256(data) for name, data in sorted(files.items())},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=1))
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
    return buffer.getvalue()


@dataclass
class Verification:
    envelopes: int = 0
    receipts: int = 0
    log_records: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def _segments(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    header_b64, payload_b64, signature_b64 = token.split(".")

    def decode(segment: str) -> bytes:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))

    header, payload = json.loads(decode(header_b64)), json.loads(decode(payload_b64))
    return header, payload, f"{header_b64}.{payload_b64}".encode("ascii"), decode(signature_b64)


def _check_signature(token: str, roots: list, at: dt.datetime) -> str | None:
    """None when the JWS verifies with its x5c leaf and that leaf's path reaches a root."""
    from asn1crypto import x509 as asn1_x509
    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator.errors import PathError, ValidationError

    try:
        header, _, signing_input, signature = _segments(token)
        chain = [base64.b64decode(c) for c in header["x5c"]]
        leaf = x509.load_der_x509_certificate(chain[0])
        algorithm = _HASHES[header["alg"]]
    except (ValueError, KeyError, TypeError) as exc:
        return f"unreadable signature ({type(exc).__name__})"
    key = leaf.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey) and header["alg"] == "RS256":
            key.verify(signature, signing_input, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and header["alg"].startswith("ES"):
            half = len(signature) // 2
            der = encode_dss_signature(
                int.from_bytes(signature[:half]), int.from_bytes(signature[half:])
            )
            key.verify(der, signing_input, ec.ECDSA(algorithm))
        else:
            return f"algorithm {header['alg']} does not fit the certificate's key"
    except InvalidSignature:
        return "the signature does not verify"
    context = ValidationContext(
        trust_roots=roots,
        other_certs=[asn1_x509.Certificate.load(c) for c in chain[1:]],
        allow_fetching=False,
        revocation_mode="soft-fail",
        moment=at,
    )
    try:
        validator = CertificateValidator(
            asn1_x509.Certificate.load(chain[0]), validation_context=context
        )
        asyncio.run(validator.async_validate_usage(set()))
    except (PathError, ValidationError) as exc:
        return f"the certificate does not lead to a root of the archive ({type(exc).__name__})"
    return None


def verify(data: bytes) -> Verification:
    """Verify an evidence archive with nothing but its own content."""
    from asn1crypto import pem
    from asn1crypto import x509 as asn1_x509

    from lienthong.exchange.log import _digest

    outcome = Verification()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        manifest = json.loads(archive.read("manifest.json"))
        files = {name: archive.read(name) for name in manifest["files"]}
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        outcome.problems.append(f"not an evidence archive: {type(exc).__name__}: {exc}"[:200])
        return outcome
    if manifest.get("format") != FORMAT:
        outcome.problems.append(f"unknown format {manifest.get('format')!r}")
    for name, digest in manifest["files"].items():
        if _sha256(files[name]) != digest:
            outcome.problems.append(f"{name}: does not match the manifest")
    extra = set(archive.namelist()) - set(manifest["files"]) - {"manifest.json"}
    if extra:
        outcome.problems.append(f"files outside the manifest: {', '.join(sorted(extra))}")
    roots = [
        asn1_x509.Certificate.load(pem.unarmor(data)[2])
        for name, data in files.items()
        if name.startswith("roots/")
    ]
    digests: dict[str, str] = {}
    for name, raw in sorted(files.items()):
        if not name.startswith("envelopes/"):
            continue
        token = raw.decode("ascii")
        digests[name[10:-4]] = _sha256(raw)
        try:
            envelope = _segments(token)[1]
            made = parse_time(envelope["created_at"])
        except (ValueError, KeyError, TypeError):
            outcome.problems.append(f"{name}: not an envelope")
            continue
        if envelope.get("id") != name[10:-4] or envelope.get("correlation_id") != manifest.get(
            "correlation_id"
        ):
            outcome.problems.append(f"{name}: id or correlation id differs from the archive's")
        problem = _check_signature(token, roots, made)
        if problem:
            outcome.problems.append(f"{name}: {problem}")
        outcome.envelopes += 1
    named: set[str] = set()
    for name, raw in sorted(files.items()):
        if not name.startswith("receipts/"):
            continue
        token = raw.decode("ascii")
        try:
            receipt = _segments(token)[1]
            made = parse_time(receipt["received_at"])
            entries = receipt["entries"]
        except (ValueError, KeyError, TypeError):
            outcome.problems.append(f"{name}: not a receipt")
            continue
        problem = _check_signature(token, roots, made)
        if problem:
            outcome.problems.append(f"{name}: {problem}")
        for entry in entries:
            if entry.get("envelope_id") in digests:
                named.add(entry["envelope_id"])
                if entry.get("envelope_sha256") != digests[entry["envelope_id"]]:
                    outcome.problems.append(
                        f"{name}: names envelope {entry['envelope_id']} with another SHA-256"
                    )
        outcome.receipts += 1
    try:
        records = json.loads(files["log.json"])
    except (KeyError, ValueError):
        records = []
        outcome.problems.append("log.json: missing or unreadable")
    contents = {**digests, **{n[9:-4]: n[9:-4] for n in files if n.startswith("receipts/")}}
    for record in records:
        expected = _digest(
            record["previous_digest"],
            record["sequence"],
            record["kind"],
            record["envelope_id"],
            record["correlation_id"],
            record["recorded_at"],
            record["content_sha256"],
        )
        if expected != record["digest"]:
            outcome.problems.append(f"log record #{record['sequence']}: digest does not follow")
        outcome.log_records += 1
    logged = {r["content_sha256"] for r in records}
    for identifier, digest in contents.items():
        if digest not in logged:
            outcome.problems.append(f"{identifier}: not in the archive's log records")
    return outcome
