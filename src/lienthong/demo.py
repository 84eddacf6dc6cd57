"""The embedded demo: one node on SQLite with the national directory loaded.

Demo accounts get random passwords, generated once per data folder and kept
there (owner-only), so no two installations share a password and none is
written in the repository.
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
from lienthong.identity.models import TotpDevice

DEMO_SOURCE = "demo"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    password: str
    # Staff sign in with a second factor: the key of an authenticator app (TOTP).
    totp_key: str = ""


DEMO_ACCOUNTS = [
    ("operator", "Node operator (quản trị hệ thống): Django admin, directory, audit trail")
]


def accounts_file() -> Path:
    return Path(settings.DATA_DIR) / "demo-accounts.json"


def demo_totp_key(username: str) -> str:
    """The authenticator key kept for a demo account in the data folder ('' if none)."""
    path = accounts_file()
    if not path.exists() or username not in dict(DEMO_ACCOUNTS):
        return ""
    kept = json.loads(path.read_text("utf-8")).get(username)
    return kept.get("totp", "") if isinstance(kept, dict) else ""


def ensure_demo_accounts() -> list[DemoAccount]:
    """Create the demo accounts that do not exist yet; return all with their passwords."""
    path = accounts_file()
    stored: dict[str, dict[str, str]] = json.loads(path.read_text("utf-8")) if path.exists() else {}
    # Older data folders kept only the password.
    stored = {k: v if isinstance(v, dict) else {"password": v} for k, v in stored.items()}
    User = get_user_model()
    accounts = []
    with transaction.atomic():
        for username, role in DEMO_ACCOUNTS:
            kept = stored.get(username, {})
            password = kept.get("password") or secrets.token_urlsafe(12)
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User.objects.create_superuser(username=username, email="", password=password)
                audit.record(
                    actor=DEMO_SOURCE,
                    action=AuditRecord.Action.CREATE,
                    obj=user,
                    source=DEMO_SOURCE,
                )
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
            totp_key = kept.get("totp", "")
            if not totp_key or not TotpDevice.objects.filter(user=user, confirmed=True).exists():
                totp_key, _backup_codes = factors.issue_totp(
                    actor=DEMO_SOURCE, user=user, source=DEMO_SOURCE
                )
            stored[username] = {"password": password, "totp": totp_key}
            accounts.append(
                DemoAccount(username=username, role=role, password=password, totp_key=totp_key)
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(stored, handle)
    return accounts
