"""The demo: one embedded node (``lienthong demo --single``) or a network of nodes
on loopback (``lienthong demo``, ``network.py``) with scripted dossiers that travel
between them (``scenario.py``).

Demo accounts get random passwords, generated once per data folder and kept
there (owner-only), so no two installations share a password and none is
written in the repository. Staff also get the key of an authenticator app.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from lienthong.audit import services as audit
from lienthong.audit.models import AuditRecord
from lienthong.identity import factors
from lienthong.identity import services as identity
from lienthong.identity.models import TotpDevice

DEMO_SOURCE = "demo"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    password: str
    # Staff sign in with a second factor: the key of an authenticator app (TOTP).
    totp_key: str = ""


@dataclass(frozen=True)
class AccountWish:
    """A demo account to have: the node operator (a superuser), an officer with a
    role in an agency, or a citizen (who signs in with the personal ID number)."""

    username: str
    role: str  # what the account is for, as printed
    kind: str = "operator"  # operator | officer | citizen
    display_name: str = ""
    agency: str = ""  # officer: the agency's identifier
    agency_role: str = ""  # officer: identity.models.Role value
    phone: str = ""
    email: str = ""

    @property
    def second_factor(self) -> bool:
        return self.kind != "citizen"


DEMO_ACCOUNTS = [
    ("operator", "Node operator (quản trị hệ thống): Django admin, directory, audit trail")
]


def accounts_file() -> Path:
    return Path(settings.DATA_DIR) / "demo-accounts.json"


def _read(path: Path) -> dict[str, dict[str, str]]:
    stored = json.loads(path.read_text("utf-8")) if path.exists() else {}
    # Older data folders kept only the password.
    return {k: v if isinstance(v, dict) else {"password": v} for k, v in stored.items()}


def demo_totp_key(username: str, path: Path | None = None) -> str:
    """The authenticator key kept for a demo account in the data folder ('' if none)."""
    path = path or accounts_file()
    if not path.exists():
        return ""
    return _read(path).get(username, {}).get("totp", "")


def read_accounts(path: Path) -> list[DemoAccount]:
    """The demo accounts kept in ``path`` (a node's data folder), in the order created."""
    return [
        DemoAccount(
            username=username,
            role=kept.get("role", ""),
            password=kept.get("password", ""),
            totp_key=kept.get("totp", ""),
        )
        for username, kept in _read(path).items()
    ]


def _create(wish: AccountWish, password: str):
    User = get_user_model()
    if wish.kind == "operator":
        user = User.objects.create_superuser(username=wish.username, email="", password=password)
        audit.record(
            actor=DEMO_SOURCE, action=AuditRecord.Action.CREATE, obj=user, source=DEMO_SOURCE
        )
        return user
    account = identity.create_account(
        actor=DEMO_SOURCE,
        kind=wish.kind,
        display_name=wish.display_name or wish.username,
        password=password,
        personal_id=wish.username if wish.kind == "citizen" else None,
        username=wish.username if wish.kind == "officer" else None,
        phone=wish.phone,
        email=wish.email,
        source=DEMO_SOURCE,
    )
    return account.user


def ensure_accounts(wishes: list[AccountWish], path: Path) -> list[DemoAccount]:
    """Create the accounts of ``wishes`` that do not exist yet, give officers their
    roles and staff an authenticator app; keep passwords and keys in ``path``
    (owner-only). Running it again changes nothing."""
    from lienthong.directory.models import Agency

    stored = _read(path)
    User = get_user_model()
    accounts = []
    with transaction.atomic():
        for wish in wishes:
            kept = stored.get(wish.username, {})
            password = kept.get("password") or secrets.token_urlsafe(12)
            user = User.objects.filter(username=wish.username).first()
            if user is None:
                user = _create(wish, password)
            elif not user.check_password(password):
                user.set_password(password)
                user.save(update_fields=["password"])
                audit.record(
                    actor=DEMO_SOURCE,
                    action=AuditRecord.Action.UPDATE,
                    obj=user,
                    changes={"password": ["(reset for the demo)", ""]},
                    source=DEMO_SOURCE,
                )
            if wish.kind == "officer":
                identity.grant_role(
                    actor=DEMO_SOURCE,
                    user=user,
                    agency=Agency.objects.get(identifier=wish.agency),
                    role=wish.agency_role,
                    source=DEMO_SOURCE,
                )
            totp_key = kept.get("totp", "")
            if wish.second_factor and (
                not totp_key or not TotpDevice.objects.filter(user=user, confirmed=True).exists()
            ):
                totp_key, _backup_codes = factors.issue_totp(
                    actor=DEMO_SOURCE, user=user, source=DEMO_SOURCE
                )
            stored[wish.username] = {"password": password, "totp": totp_key, "role": wish.role}
            accounts.append(
                DemoAccount(
                    username=wish.username, role=wish.role, password=password, totp_key=totp_key
                )
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(stored, handle, ensure_ascii=False)
    return accounts


def ensure_demo_accounts() -> list[DemoAccount]:
    """The embedded demo's accounts (the node operator), with their passwords."""
    wishes = [AccountWish(username=username, role=role) for username, role in DEMO_ACCOUNTS]
    return ensure_accounts(wishes, accounts_file())
