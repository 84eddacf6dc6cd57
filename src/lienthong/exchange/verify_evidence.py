"""Verify an evidence archive offline: no database, no network, no Django.

    python -m lienthong.exchange.verify_evidence EVIDENCE.zip

or, on a machine without Liên Thông, this one file with the Python standard
library, ``cryptography`` and ``asn1crypto``::

    pip install cryptography asn1crypto
    python verify_evidence.py EVIDENCE.zip

It prints a report and exits 0 when the archive is intact, 1 with a one-line
reason otherwise (docs/exchange.md, "Evidence for one dossier", describes the
archive). This module also holds the message log's hash rules, so the node and
the verifier cannot drift apart (log.py imports them):

    leaf(n)  = SHA-256( "lienthong-log-leaf/2" || for each field, in order:
                        len(name) name len(value) value )   (lengths: 4 bytes, big-endian;
               fields sequence, kind, envelope_id, correlation_id, recorded_at,
               content_sha256; UTF-8)
    link(n)  = SHA-256( "lienthong-log-chain/2" || link(n-1) || leaf(n) )   (raw 32-byte digests)

Records written before the leaf hash existed (version 1) keep their rule:
``link(n) = SHA-256(RFC 8785 JSON of [link(n-1), n, kind, envelope id,
correlation id, recorded at, content SHA-256])``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FORMAT = "lienthong-evidence/2"
GENESIS = "0" * 64
LEAF_TAG = b"lienthong-log-leaf/2"
CHAIN_TAG = b"lienthong-log-chain/2"
LEAF_FIELDS = ("sequence", "kind", "envelope_id", "correlation_id", "recorded_at",
               "content_sha256")  # fmt: skip
# When each kind of signed object says it was made (the time its chain is judged at).
MADE_AT = ("created_at", "received_at", "responded_at")


# --- The message log's hash rules -----------------------------------------------------------


def _field(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


_NAMES = [(name, _field(name.encode())) for name in LEAF_FIELDS]


def leaf_hash(record: Mapping[str, Any]) -> str:
    """The leaf hash of a log record: its content, and nothing of its neighbours."""
    digest = hashlib.sha256(LEAF_TAG)
    for name, encoded_name in _NAMES:
        value = str(record[name]).encode("utf-8")
        digest.update(encoded_name + len(value).to_bytes(4, "big") + value)
    return digest.hexdigest()


def link(previous: str, leaf: str) -> str:
    """The chain link of a record: its leaf hash bound to the link before it."""
    return hashlib.sha256(CHAIN_TAG + bytes.fromhex(previous) + bytes.fromhex(leaf)).hexdigest()


def legacy_digest(previous: str, record: Mapping[str, Any]) -> str:
    """The link of a version-1 record. For this list of strings and one integer,
    compact JSON without ASCII escaping is its RFC 8785 form."""
    fields = [previous, record["sequence"], *(record[name] for name in LEAF_FIELDS[1:])]
    text = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_link(previous: str, record: Mapping[str, Any]) -> str:
    """The link of a record whose fields are known, under its own version's rule."""
    if record.get("version", 1) == 1:
        return legacy_digest(previous, record)
    return link(previous, leaf_hash(record))


# --- Certificates ----------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _load_pem_certificates(data: bytes) -> list:
    from cryptography import x509

    return x509.load_pem_x509_certificates(data)


def _chain_problem(leaf, pool: list, roots: list, at: dt.datetime, *, purpose=None) -> str | None:
    """None when ``leaf`` leads, through certificates of ``pool``, to one of ``roots``
    with every certificate valid at ``at`` and every issuer a CA; else why not.

    As RFC 5280 has it for each link: an issuer is a CA (basic constraints) whose
    key usage, when stated, allows signing certificates, and whose path length
    constraint admits the CAs below it; the leaf's key usage, when stated, allows
    signatures. Revocation is judged from the archive's answers (``_revoked``)."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    try:
        leaf_usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        leaf_usage = None
    if leaf_usage is not None and not (
        leaf_usage.digital_signature or leaf_usage.content_commitment
    ):
        return "the certificate's key usage does not allow signatures"
    if purpose is not None:
        try:
            usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            usages = []
        if purpose not in usages:
            return "the certificate is not for this purpose"
    if purpose == ExtendedKeyUsageOID.TIME_STAMPING and len(list(usages)) != 1:
        return "a time-stamping certificate must have no other extended key usage"
    trusted = {root.fingerprint(_SHA256()) for root in roots}

    def valid(cert) -> bool:
        return cert.not_valid_before_utc <= at <= cert.not_valid_after_utc

    def may_issue(cert, cas_below: int) -> bool:
        """A CA allowed to sign certificates, with ``cas_below`` CAs under it."""
        try:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            return False
        if not constraints.ca:
            return False
        if constraints.path_length is not None and cas_below > constraints.path_length:
            return False
        try:
            return cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
        except x509.ExtensionNotFound:
            return True

    def walk(cert, depth: int, seen: frozenset) -> bool:
        if not valid(cert):
            return False
        if cert.fingerprint(_SHA256()) in trusted:
            return True
        if depth > 8:
            return False
        for issuer in [*roots, *pool]:
            fingerprint = issuer.fingerprint(_SHA256())
            if fingerprint in seen or issuer.subject != cert.issuer or not may_issue(issuer, depth):
                continue
            try:
                cert.verify_directly_issued_by(issuer)
            except (ValueError, TypeError, _InvalidSignature()):
                continue
            if walk(issuer, depth + 1, seen | {fingerprint}):
                return True
        return False

    if walk(leaf, 0, frozenset({leaf.fingerprint(_SHA256())})):
        return None
    return "the certificate does not lead to a root of the archive at that time"


def _SHA256():
    from cryptography.hazmat.primitives import hashes

    return hashes.SHA256()


def _InvalidSignature():
    from cryptography.exceptions import InvalidSignature

    return InvalidSignature


# --- Signed objects (JWS) ----------------------------------------------------------------------


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def jws_parts(token: str) -> tuple[dict, dict]:
    """The header and payload of a compact JWS (not verified)."""
    header, payload, _ = token.split(".")
    return json.loads(_b64url(header)), json.loads(_b64url(payload))


def _signed_by(public_key, signature: bytes, data: bytes, hash_algorithm) -> bool:
    """True when ``signature`` over ``data`` verifies with ``public_key`` (RSA PKCS#1 v1.5
    or ECDSA, the kinds both national hierarchies issue)."""
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), hash_algorithm)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(hash_algorithm))
        else:
            return False
    except (_InvalidSignature(), ValueError, TypeError):
        return False
    return True


def answer_problem(kind: str, der: bytes, certificates: list) -> str | None:
    """None when a revocation answer is signed by the CA it speaks for, else why not.

    A CRL must be signed by its issuer; an OCSP response by the issuer of the
    certificates it speaks of, or by a responder that issuer certified for OCSP
    signing and that was valid when the response was produced (RFC 6960,
    4.2.2.2). ``certificates`` are the archive's (roots and chains)."""
    from cryptography import x509
    from cryptography.x509 import ocsp
    from cryptography.x509.oid import ExtendedKeyUsageOID

    if kind == "crl":
        try:
            listing = x509.load_der_x509_crl(der)
        except ValueError:
            return "the CRL cannot be read"
        for ca in certificates:
            if ca.subject == listing.issuer and listing.is_signature_valid(ca.public_key()):
                return None
        return "the CRL is not signed by a CA certificate of the archive"
    try:
        response = ocsp.load_der_ocsp_response(der)
        if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            return "the OCSP response is not a successful one"
        singles = list(response.responses)
        produced = response.produced_at_utc
        signature, tbs = response.signature, response.tbs_response_bytes
        algorithm, included = response.signature_hash_algorithm, response.certificates
    except ValueError:
        return "the OCSP response cannot be read"
    issuers = [
        ca
        for ca in certificates
        if any(
            hashlib.new(single.hash_algorithm.name, ca.subject.public_bytes()).digest()
            == single.issuer_name_hash
            for single in singles
        )
    ]
    signers = list(issuers)
    for responder in included:
        try:
            usages = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            continue
        if ExtendedKeyUsageOID.OCSP_SIGNING not in usages or not (
            responder.not_valid_before_utc <= produced <= responder.not_valid_after_utc
        ):
            continue
        for ca in issuers:
            try:
                responder.verify_directly_issued_by(ca)
            except (ValueError, TypeError, _InvalidSignature()):
                continue
            signers.append(responder)
    if any(_signed_by(s.public_key(), signature, tbs, algorithm) for s in signers):
        return None
    return "the OCSP response is not signed by the certificate's CA or a responder it certified"


def _revoked(certificate, at: dt.datetime, answers: list[tuple[str, bytes]]) -> str | None:
    """Why one of the node's revocation answers says ``certificate`` was revoked at or
    before ``at``, or None."""
    from asn1crypto import crl, ocsp

    issuer = certificate.issuer.public_bytes()
    for kind, der in answers:
        if kind != "ocsp":
            continue
        try:
            response = ocsp.OCSPResponse.load(der)
            basic = response["response_bytes"]["response"].parsed
            for answer in basic["tbs_response_data"]["responses"]:
                if answer["cert_id"]["serial_number"].native != certificate.serial_number:
                    continue
                hashed = hashlib.new(answer["cert_id"]["hash_algorithm"]["algorithm"].native)
                hashed.update(issuer)
                status = answer["cert_status"]
                if (
                    hashed.digest() == answer["cert_id"]["issuer_name_hash"].native
                    and status.name == "revoked"
                    and status.chosen["revocation_time"].native <= at
                ):
                    return "an OCSP response of the node says the certificate was revoked"
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    for kind, der in answers:
        if kind != "crl":
            continue
        try:
            listing = crl.CertificateList.load(der)["tbs_cert_list"]
            if listing["issuer"].dump() != issuer:
                continue
            for entry in listing["revoked_certificates"] or []:
                if (
                    entry["user_certificate"].native == certificate.serial_number
                    and entry["revocation_date"].native <= at
                ):
                    return "a CRL kept by the node lists the certificate as revoked"
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return None


def _jws_problem(token: str, pool: list, roots: list, answers=()) -> str | None:
    """None when the JWS verifies with its x5c certificate and that certificate leads to
    a root at the time the object says it was made."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    hashes_by_alg = {"RS256": hashes.SHA256(), "ES256": hashes.SHA256(),
                     "ES384": hashes.SHA384(), "ES512": hashes.SHA512()}  # fmt: skip
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header, payload = json.loads(_b64url(header_b64)), json.loads(_b64url(payload_b64))
        chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in header["x5c"]]
        algorithm = hashes_by_alg[header["alg"]]
        signature = _b64url(signature_b64)
        made = next(_parse_time(payload[name]) for name in MADE_AT if name in payload)
    except (ValueError, KeyError, TypeError, StopIteration) as exc:
        return f"unreadable signed object ({type(exc).__name__})"
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    key = chain[0].public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey) and header["alg"] == "RS256":
            key.verify(signature, signing_input, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and header["alg"].startswith("ES"):
            half = len(signature) // 2
            der = encode_dss_signature(
                int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
            )
            key.verify(der, signing_input, ec.ECDSA(algorithm))
        else:
            return f"algorithm {header['alg']} does not fit the certificate's key"
    except _InvalidSignature():
        return "the signature does not verify"
    problem = _chain_problem(chain[0], [*chain[1:], *pool], roots, made)
    if problem is None:
        problem = next((p for c in chain if (p := _revoked(c, made, answers))), None)
    return problem


def _parse_time(text: str) -> dt.datetime:
    if not isinstance(text, str) or not text.endswith("Z"):
        raise ValueError(f"not a UTC time: {text!r}"[:60])
    return dt.datetime.fromisoformat(text[:-1]).replace(tzinfo=dt.UTC)


# --- Timestamp tokens (RFC 3161) ----------------------------------------------------------------


def timestamp_problem(token: bytes, digest: str, pool: list, roots: list) -> str | None:
    """None when ``token`` is an RFC 3161 token over ``digest`` (hex SHA-256), signed by a
    time-stamping certificate that leads to one of ``roots`` at the token's time."""
    from asn1crypto import algos, cms, tsp
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID

    try:
        signed = cms.ContentInfo.load(token)["content"]
        info = signed["encap_content_info"]
        if info["content_type"].native != "tst_info":
            return "not a timestamp token"
        tst_der = info["content"].contents
        tst = tsp.TSTInfo.load(tst_der)
        imprint = tst["message_imprint"]
        signer = signed["signer_infos"][0]
        certificates = [
            x509.load_der_x509_certificate(c.chosen.dump()) for c in signed["certificates"] or []
        ]
        moment = tst["gen_time"].native
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        return f"unreadable timestamp token ({type(exc).__name__})"
    if imprint["hash_algorithm"]["algorithm"].native != "sha256" or imprint[
        "hashed_message"
    ].native != bytes.fromhex(digest):
        return "the token does not cover the log head it is stored for"
    # The signer: by issuer and serial number, or by subject key identifier.
    sid = signer["sid"]
    candidates = [*certificates, *pool]
    if sid.name == "issuer_and_serial_number":
        wanted = sid.chosen["serial_number"].native
        match = [c for c in candidates if c.serial_number == wanted]
    else:
        wanted = sid.chosen.native
        match = []
        for c in candidates:
            try:
                ski = c.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            except x509.ExtensionNotFound:
                continue
            if ski.digest == wanted:
                match.append(c)
    if not match:
        return "the time-stamping authority's certificate is not in the archive"
    tsa = match[0]
    digest_name = signer["digest_algorithm"]["algorithm"].native
    chosen = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}
    if digest_name not in chosen:
        return f"weak or unknown digest algorithm {digest_name}"
    algorithm = chosen[digest_name]
    attributes = signer["signed_attrs"]
    digests = [a["values"][0].native for a in attributes if a["type"].native == "message_digest"]
    content_digest = hashlib.new(digest_name, tst_der).digest()
    if digests != [content_digest]:
        return "the token's signed attributes do not match its content"
    signed_bytes = b"\x31" + attributes.dump()[1:]  # signed as a SET, not [0] IMPLICIT
    signature = signer["signature"].native
    mechanism = signer["signature_algorithm"].signature_algo
    key = tsa.public_key()
    try:
        if mechanism == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed_bytes, padding.PKCS1v15(), algorithm)
        elif mechanism == "rsassa_pss" and isinstance(key, rsa.RSAPublicKey):
            params = signer["signature_algorithm"]["parameters"]
            salt = params["salt_length"].native if isinstance(params, algos.RSASSAPSSParams) else 32
            key.verify(signature, signed_bytes,
                       padding.PSS(padding.MGF1(algorithm), salt), algorithm)  # fmt: skip
        elif mechanism == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed_bytes, ec.ECDSA(algorithm))
        else:
            return f"signature mechanism {mechanism} does not fit the authority's key"
    except _InvalidSignature():
        return "the token's signature does not verify"
    problem = _chain_problem(
        tsa, [*certificates, *pool], roots, moment, purpose=ExtendedKeyUsageOID.TIME_STAMPING
    )
    return f"time-stamping authority: {problem}" if problem else None


def timestamp_time(token: bytes) -> dt.datetime:
    from asn1crypto import cms

    return (
        cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"]
        .parsed["gen_time"]
        .native
    )


# --- The archive -------------------------------------------------------------------------------


@dataclass
class Report:
    correlation_id: str = ""
    node: str = ""
    objects: int = 0
    records: int = 0
    hidden: int = 0
    revocation: int = 0
    timestamps: list[tuple[int, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        out = [
            f"evidence of {self.correlation_id} from node {self.node}",
            f"  {self.objects} signed object(s), {self.records} log record(s) shown in full, "
            f"{self.hidden} shown by their leaf hash only",
        ]
        out.append(
            f"  {self.revocation} revocation answer(s) kept by the node, each signed by its CA "
            "(a revocation before signing fails the check)"
        )
        out += [f"  log head #{seq} timestamped at {time}" for seq, time in self.timestamps]
        out += [f"  PROBLEM: {p}" for p in self.problems]
        out.append("INTACT" if self.intact else f"NOT INTACT: {self.problems[0]}")
        return out


def verify(data: bytes) -> Report:
    """Verify an evidence archive with nothing but its own content."""
    report = Report()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        manifest = json.loads(archive.read("manifest.json"))
        files = {name: archive.read(name) for name in manifest["files"]}
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        report.problems.append(f"not an evidence archive ({type(exc).__name__}: {exc})"[:200])
        return report
    report.correlation_id = str(manifest.get("correlation_id", ""))
    report.node = str(manifest.get("node", ""))
    if manifest.get("format") != FORMAT:
        report.problems.append(f"unknown format {manifest.get('format')!r}")
        return report
    for name, digest in sorted(manifest["files"].items()):
        if _sha256(files[name]) != digest:
            report.problems.append(f"{name} does not match the manifest")
    extra = set(archive.namelist()) - set(manifest["files"]) - {"manifest.json"}
    if extra:
        report.problems.append(f"files outside the manifest: {', '.join(sorted(extra))}")
    if report.problems:
        return report
    try:
        roots = [c for n, d in files.items() if n.startswith("roots/")
                 for c in _load_pem_certificates(d)]  # fmt: skip
        pool = [c for n, d in files.items() if n.startswith("certificates/")
                for c in _load_pem_certificates(d)]  # fmt: skip
        log = json.loads(files["log.json"])
        records = {r["sequence"]: r for r in log["records"]}
        hidden = {h["sequence"]: h for h in log["chain"]}
        stamps = sorted(log["timestamps"], key=lambda s: s["sequence"])
    except (KeyError, ValueError, TypeError) as exc:
        report.problems.append(f"log.json unreadable ({type(exc).__name__})")
        return report
    report.records, report.hidden = len(records), len(hidden)
    report.revocation = sum(1 for name in files if name.startswith("revocation/"))
    answers = []  # the answers signed by their CA: only those may speak
    for name, der in sorted(files.items()):
        if name.startswith("revocation/"):
            kind = name.rsplit(".", 1)[-1]
            problem = answer_problem(kind, der, [*roots, *pool])
            if problem:
                report.problems.append(f"{name}: {problem}")
            else:
                answers.append((kind, der))
    _check_objects(report, files, records, pool, roots, answers)
    _check_chain(report, files, records, hidden, stamps, pool, roots)
    return report


def _check_objects(
    report: Report, files: dict, records: dict, pool: list, roots: list, answers: list
) -> None:
    envelope_digests: dict[str, str] = {}
    receipts: list[tuple[int, dict]] = []
    for sequence, record in sorted(records.items()):
        name = f"objects/{record['content_sha256']}.jws"
        if name not in files:
            report.problems.append(f"record #{sequence}: its signed object is not in the archive")
            continue
        token = files[name].decode("ascii", "replace")
        if record.get("version", 1) >= 2 and leaf_hash(record) != record.get("leaf"):
            report.problems.append(f"record #{sequence}: its leaf hash does not match its fields")
        problem = _jws_problem(token, pool, roots, answers)
        if problem:
            report.problems.append(f"record #{sequence} ({name}): {problem}")
            continue
        payload = jws_parts(token)[1]
        kind = record["kind"]
        if kind.startswith("receipt"):
            receipts.append((sequence, payload))
            continue
        if record["correlation_id"] != report.correlation_id:
            report.problems.append(f"record #{sequence}: of another correlation id")
        if kind.startswith("envelope") and (
            payload.get("id") != record["envelope_id"]
            or payload.get("correlation_id") != record["correlation_id"]
        ):
            report.problems.append(f"record #{sequence}: the envelope says otherwise")
        if kind.startswith("envelope"):
            envelope_digests[record["envelope_id"]] = record["content_sha256"]
    report.objects = len({r["content_sha256"] for r in records.values()})
    for sequence, receipt in receipts:
        for entry in receipt.get("entries", []):
            wanted = envelope_digests.get(entry.get("envelope_id"))
            if wanted is not None and entry.get("envelope_sha256") != wanted:
                report.problems.append(
                    f"record #{sequence}: the receipt names envelope {entry['envelope_id']} "
                    "with another SHA-256"
                )


def _check_chain(report: Report, files: dict, records: dict, hidden: dict, stamps: list,
                 pool: list, roots: list) -> None:  # fmt: skip
    """Each record shown in full is followed, link by link, up to the first timestamped head
    at or after it, and that head's token verifies."""
    verified: dict[int, str] = {}
    for sequence, record in sorted(records.items()):
        stamp = next((s for s in stamps if s["sequence"] >= sequence), None)
        if stamp is None:
            report.problems.append(f"record #{sequence}: no timestamped log head covers it")
            continue
        previous = record["previous_digest"]
        for position in range(sequence, stamp["sequence"] + 1):
            if position in records:
                shown = records[position]
                if position > sequence and shown["previous_digest"] != previous:
                    report.problems.append(f"record #{position}: does not link to #{position - 1}")
                    return
                current = record_link(previous, shown)
                if current != shown["digest"]:
                    report.problems.append(f"record #{position}: its digest does not follow")
                    return
            elif position in hidden:
                entry = hidden[position]
                if "leaf" in entry:
                    current = link(previous, entry["leaf"])
                else:  # a version-1 record: its fields, never its content
                    current = legacy_digest(previous, entry)
            else:
                report.problems.append(f"record #{position} is missing from the chain")
                return
            previous = current
        if previous != stamp["digest"]:
            report.problems.append(
                f"record #{sequence}: the chain does not reach the timestamped head "
                f"#{stamp['sequence']}"
            )
            continue
        if stamp["sequence"] not in verified:
            token = files.get(stamp["token"])
            problem = (
                "its token is not in the archive"
                if token is None
                else timestamp_problem(token, stamp["digest"], pool, roots)
            )
            if problem:
                report.problems.append(f"timestamp of #{stamp['sequence']}: {problem}")
                verified[stamp["sequence"]] = ""
                continue
            verified[stamp["sequence"]] = timestamp_time(token).isoformat()
            report.timestamps.append((stamp["sequence"], verified[stamp["sequence"]]))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m lienthong.exchange.verify_evidence EVIDENCE.zip", file=sys.stderr)
        return 2
    try:
        with open(argv[0], "rb") as source:
            data = source.read()
    except OSError as exc:
        print(f"NOT INTACT: cannot read {argv[0]}: {exc.strerror}", file=sys.stderr)
        return 1
    report = verify(data)
    for line in report.lines()[:-1]:
        print(line)
    print(report.lines()[-1], file=sys.stdout if report.intact else sys.stderr)
    return 0 if report.intact else 1


if __name__ == "__main__":
    sys.exit(main())
