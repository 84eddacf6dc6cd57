"""Signed directory snapshots: the central node publishes, every other node follows.

The directory authority (the central node; ``LIENTHONG_DIRECTORY_AUTHORITY``
names the agency whose key signs) publishes numbered snapshots of the
agencies, nodes (with their exchange endpoints) and access rights, each
valid for ``LIENTHONG_DIRECTORY_SNAPSHOT_DAYS``. A snapshot is a JWS over the
RFC 8785 canonical JSON::

    {"type": "directory.snapshot", "serial": 42, "authority": "000.00.00.G22",
     "issued_at": "…Z", "valid_until": "…Z",
     "nodes": [{"identifier", "name", "role", "base_url", "exchange_url",
                "tls_certificate_sha256", "is_active"}, …],
     "agencies": [{"identifier", "name", "kind", "parent", "unit", "node",
                   "reference_key", "identifier_generated", "is_active"}, …],
     "access_rights": [{"provider", "message_type", "consumer", "is_enabled"}, …]}

A node joins by importing an anchor file (``lienthong directory join``):
where to fetch snapshots, which agency signs them, and — optionally — the
SHA-256 fingerprints of the roots its certificate must lead to. It then pulls
(``lienthong directory pull``, and the worker every
``LIENTHONG_DIRECTORY_POLL_SECONDS``): a snapshot is applied only if its
signature verifies to a trusted root (one of the anchor's, when it names
them), it is signed by the authority's certificate, its serial is newer than
the node's and it has not expired. Applying it updates agencies, nodes and
the access rights that came from snapshots, in one audited transaction.
A node that has joined refuses exchange traffic once its copy has expired
(``expired``), so it never routes or authorises on stale facts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from lienthong.audit import services as audit
from lienthong.audit.models import AuditRecord
from lienthong.directory.identifiers import validate_identifier
from lienthong.directory.models import AdministrativeUnit, Agency, DirectoryAnchor, Node, Snapshot

SNAPSHOT_TYPE = "directory.snapshot"


class SnapshotRefused(Exception):
    """A snapshot or anchor that cannot be used; ``code`` is stable."""

    def __init__(self, code: str, detail: str = ""):
        self.code, self.detail = code, detail
        super().__init__(f"{code}: {detail}" if detail else code)


def _time(moment: dt.datetime) -> str:
    from lienthong.exchange.envelope import format_time

    return format_time(moment)


def content(*, serial: int, now: dt.datetime) -> dict[str, Any]:
    """What the directory says now, as a snapshot body."""
    from lienthong.exchange.models import AccessRight

    # Plain rows, not model instances: a national directory has thousands of agencies.
    agencies = Agency.objects.order_by("identifier").values_list(
        "identifier",
        "name",
        "kind",
        "parent__identifier",
        "unit__code",
        "node__identifier",
        "reference_key",
        "identifier_generated",
        "is_active",
    )
    rights = AccessRight.objects.order_by("pk").values_list(
        "provider__identifier", "message_type", "consumer__identifier", "is_enabled"
    )
    return {
        "type": SNAPSHOT_TYPE,
        "serial": serial,
        "authority": settings.DIRECTORY_AUTHORITY,
        "issued_at": _time(now),
        "valid_until": _time(now + dt.timedelta(days=settings.DIRECTORY_SNAPSHOT_DAYS)),
        "nodes": [
            {
                "identifier": n.identifier,
                "name": n.name,
                "role": n.role,
                "base_url": n.base_url,
                "exchange_url": n.exchange_url,
                "tls_certificate_sha256": n.tls_certificate_sha256,
                "is_active": n.is_active,
            }
            for n in Node.objects.order_by("identifier")
        ],
        "agencies": [
            {
                "identifier": identifier,
                "name": name,
                "kind": kind,
                "parent": parent,
                "unit": unit,
                "node": node,
                "reference_key": reference_key,
                "identifier_generated": generated,
                "is_active": is_active,
            }
            for (
                identifier,
                name,
                kind,
                parent,
                unit,
                node,
                reference_key,
                generated,
                is_active,
            ) in agencies
        ],
        "access_rights": [
            {
                "provider": provider,
                "message_type": message_type,
                "consumer": consumer,
                "is_enabled": is_enabled,
            }
            for provider, message_type, consumer, is_enabled in rights
        ],
    }


def publish(*, actor: Any) -> Snapshot:
    """Sign and store a new snapshot of this node's directory (the authority's task)."""
    from lienthong.exchange.services import ExchangeRefused, agency_key
    from lienthong.trust import signing

    now = timezone.now()
    with transaction.atomic():
        last = Snapshot.objects.select_for_update().order_by("-serial").first()
        serial = (last.serial if last else 0) + 1
        body = content(serial=serial, now=now)
        try:
            key = agency_key(settings.DIRECTORY_AUTHORITY)
        except ExchangeRefused as exc:
            raise SnapshotRefused("no_signing_key", exc.message_en) from exc
        token = signing.sign_jws(actor=actor, key=key, payload=body, source="directory")
        snapshot = Snapshot.objects.create(
            serial=serial,
            issued_at=now,
            valid_until=now + dt.timedelta(days=settings.DIRECTORY_SNAPSHOT_DAYS),
            token=token,
            published=True,
        )
        audit.record(
            actor=actor,
            action=AuditRecord.Action.CREATE,
            obj=snapshot,
            changes={"agencies": len(body["agencies"]), "nodes": len(body["nodes"])},
            source="directory",
        )
    return snapshot


def latest_published() -> Snapshot | None:
    return Snapshot.objects.filter(published=True).order_by("-serial").first()


# --- Following ---------------------------------------------------------------------------


def join(*, actor: Any, anchor: dict[str, Any]) -> DirectoryAnchor:
    """Store the anchor (replacing an earlier one): where snapshots come from, who signs."""
    if not isinstance(anchor, dict):
        raise SnapshotRefused("invalid_anchor", "a JSON object is expected")
    url, authority = anchor.get("url"), anchor.get("authority")
    roots = anchor.get("roots", [])
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise SnapshotRefused("invalid_anchor", "url: the snapshot address (https://…)")
    try:
        validate_identifier(authority if isinstance(authority, str) else "")
    except ValidationError as exc:
        raise SnapshotRefused(
            "invalid_anchor", "authority: the signing agency's identifier"
        ) from exc
    if not isinstance(roots, list) or not all(
        isinstance(r, str) and len(r) == 64 and all(c in "0123456789abcdef" for c in r)
        for r in roots
    ):
        raise SnapshotRefused("invalid_anchor", "roots: SHA-256 fingerprints in lower-case hex")
    with transaction.atomic():
        DirectoryAnchor.objects.all().delete()
        stored = DirectoryAnchor.objects.create(url=url, authority=authority, roots=roots)
        audit.record(
            actor=actor,
            action=AuditRecord.Action.CREATE,
            obj=stored,
            changes={"url": url, "authority": authority, "roots": roots},
            source="directory",
        )
    return stored


@dataclass
class Applied:
    serial: int
    agencies_created: int = 0
    agencies_updated: int = 0
    nodes_created: int = 0
    nodes_updated: int = 0
    rights: int = 0


def _body(token: str) -> dict[str, Any]:
    from lienthong.exchange.envelope import unverified_payload

    try:
        body = unverified_payload(token)
    except ValueError as exc:
        raise SnapshotRefused("malformed", "not a compact JWS of a snapshot") from exc
    if not isinstance(body, dict) or body.get("type") != SNAPSHOT_TYPE:
        raise SnapshotRefused("malformed", "not a directory snapshot")
    return body


def check(token: str, anchor: DirectoryAnchor) -> dict[str, Any]:
    """The snapshot's body if it may be applied, else SnapshotRefused with the reason."""
    from lienthong.exchange.envelope import parse_time
    from lienthong.trust.validation.jws import verify_jws

    body = _body(token)
    result = verify_jws(token)
    if result.indication != "TOTAL-PASSED":
        raise SnapshotRefused("signature", f"{result.indication}/{result.sub_indication}")
    if result.signer is None or anchor.authority not in result.signer.identifiers:
        raise SnapshotRefused("not_the_authority", result.signer.subject if result.signer else "")
    # The path's certificates (leaf first, root last): one of them must be a root the
    # anchor names (through a cross-certificate the path may end at the other root).
    if anchor.roots and not any(c.fingerprint_sha256 in anchor.roots for c in result.chain):
        raise SnapshotRefused(
            "other_root", "the signature leads to a root the anchor does not name"
        )
    if body.get("authority") != anchor.authority:
        raise SnapshotRefused("not_the_authority", str(body.get("authority")))
    try:
        valid_until = parse_time(body["valid_until"])
        serial = body["serial"]
        for name in ("nodes", "agencies", "access_rights"):
            if not isinstance(body[name], list):
                raise TypeError(name)
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotRefused("malformed", f"{type(exc).__name__}: {exc}") from exc
    if type(serial) is not int or serial < 1:
        raise SnapshotRefused("malformed", "serial")
    if valid_until <= timezone.now():
        raise SnapshotRefused("expired", body["valid_until"])
    current = Snapshot.objects.filter(published=False).order_by("-serial").first()
    if current is not None and serial <= current.serial:
        raise SnapshotRefused("not_newer", f"{serial} ≤ {current.serial}")
    return body


def apply(*, actor: Any, token: str) -> Applied:
    """Verify a snapshot against the anchor and make this node's directory say what it says."""
    from lienthong.exchange import facts as exchange_facts
    from lienthong.exchange.envelope import parse_time
    from lienthong.exchange.models import AccessRight

    anchor = DirectoryAnchor.objects.first()
    if anchor is None:
        raise SnapshotRefused("not_joined", "import an anchor first: lienthong directory join")
    body = check(token, anchor)
    applied = Applied(serial=body["serial"])
    try:
        with transaction.atomic():
            nodes = {n.identifier: n for n in Node.objects.all()}
            for spec in body["nodes"]:
                fields = {k: spec[k] for k in ("name", "role", "base_url", "is_active")}
                # Members added after the first snapshots: absent means none.
                for k in ("exchange_url", "tls_certificate_sha256"):
                    fields[k] = spec.get(k) or ""
                node = nodes.get(spec["identifier"])
                if node is None:
                    nodes[spec["identifier"]] = Node.objects.create(
                        identifier=spec["identifier"], **fields
                    )
                    applied.nodes_created += 1
                elif any(getattr(node, k) != v for k, v in fields.items()):
                    Node.objects.filter(pk=node.pk).update(**fields)
                    applied.nodes_updated += 1
            units = {u.code: u for u in AdministrativeUnit.objects.valid_on(timezone.localdate())}
            agencies = {a.identifier: a for a in Agency.objects.all()}
            parents: list[tuple[str, str | None]] = []
            for spec in body["agencies"]:
                unit = units.get(spec["unit"]) if spec["unit"] else None
                node = nodes.get(spec["node"]) if spec["node"] else None
                # Compared by key: reading ``agency.unit`` would cost a query per agency.
                fields = {
                    "name": spec["name"],
                    "kind": spec["kind"],
                    "is_active": spec["is_active"],
                    "identifier_generated": spec["identifier_generated"],
                    "unit_id": unit.pk if unit else None,
                    "node_id": node.pk if node else None,
                }
                agency = agencies.get(spec["identifier"])
                if agency is None:
                    agencies[spec["identifier"]] = Agency.objects.create(
                        identifier=spec["identifier"],
                        reference_key=spec["reference_key"],
                        **fields,
                    )
                    applied.agencies_created += 1
                elif any(getattr(agency, k) != v for k, v in fields.items()):
                    for key, value in fields.items():
                        setattr(agency, key, value)
                    agency.save()
                    applied.agencies_updated += 1
                parents.append((spec["identifier"], spec["parent"]))
            for identifier, parent in parents:
                wanted = agencies[parent].pk if parent in agencies else None
                if agencies[identifier].parent_id != wanted:
                    Agency.objects.filter(pk=agencies[identifier].pk).update(parent_id=wanted)
            AccessRight.objects.filter(from_snapshot=True).delete()
            rights = []
            for spec in body["access_rights"]:
                provider, consumer = agencies.get(spec["provider"]), agencies.get(spec["consumer"])
                if provider is None or (spec["consumer"] and consumer is None):
                    continue
                rights.append(
                    AccessRight(
                        provider=provider,
                        message_type=spec["message_type"],
                        consumer=consumer,
                        is_enabled=spec["is_enabled"],
                        from_snapshot=True,
                    )
                )
            AccessRight.objects.bulk_create(rights, ignore_conflicts=True)
            applied.rights = len(rights)
            snapshot = Snapshot.objects.create(
                serial=body["serial"],
                issued_at=parse_time(body["issued_at"]),
                valid_until=parse_time(body["valid_until"]),
                token=token,
                published=False,
            )
            audit.record(
                actor=actor,
                action=AuditRecord.Action.IMPORT,
                obj=snapshot,
                changes=applied.__dict__,
                source="directory",
            )
            # Agencies, nodes and rights changed by bulk updates (no signals): this
            # process forgets its exchange facts once they are committed.
            transaction.on_commit(exchange_facts.forget)
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotRefused("malformed", f"{type(exc).__name__}: {exc}"[:200]) from exc
    except IntegrityError as exc:
        # The same serial was applied meanwhile (the worker and an operator at once).
        raise SnapshotRefused("not_newer", "applied meanwhile") from exc
    return applied


def pull(*, actor: Any, http=None) -> Applied | None:
    """Fetch the authority's latest snapshot and apply it; None when it is not newer."""
    import httpx

    anchor = DirectoryAnchor.objects.first()
    if anchor is None:
        raise SnapshotRefused("not_joined", "import an anchor first: lienthong directory join")
    client = http or httpx.Client(timeout=settings.EXCHANGE_HTTP_TIMEOUT)
    try:
        response = client.get(anchor.url)
        response.raise_for_status()
        token = response.text.strip()
    except httpx.HTTPError as exc:
        raise SnapshotRefused("unreachable", f"{type(exc).__name__}: {exc}"[:200]) from exc
    finally:
        if http is None:
            client.close()
    try:
        return apply(actor=actor, token=token)
    except SnapshotRefused as refused:
        if refused.code == "not_newer":
            return None
        raise


def expired_copy(now: dt.datetime | None = None) -> bool:
    """True when this node follows an authority and its copy of the directory has expired
    (or was never received): then it refuses exchange traffic."""
    if not DirectoryAnchor.objects.exists():
        return False
    current = Snapshot.objects.filter(published=False).order_by("-serial").first()
    return current is None or current.valid_until <= (now or timezone.now())
