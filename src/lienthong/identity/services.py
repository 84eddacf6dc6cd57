"""Accounts and officer roles: creating them, granting and revoking roles.

Every function takes keyword arguments, runs in one transaction and writes
its audit record in it. Bad input raises ``ValidationError`` (field errors
a form can show) and nothing is written.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from lienthong.audit import services as audit
from lienthong.directory.models import Agency
from lienthong.identity import permissions
from lienthong.identity.models import Account, AccountKind, OfficerRole, Role
from lienthong.identity.numbers import identifier_kind


@transaction.atomic
def create_account(
    *,
    actor: Any,
    kind: str,
    display_name: str,
    password: str | None,
    personal_id: str | None = None,
    tax_code: str | None = None,
    username: str | None = None,
    phone: str = "",
    email: str = "",
    source: str,
) -> Account:
    """Create a login and its account.

    A citizen signs in with the personal ID number, a business with its tax
    code, an officer with a username that cannot be mistaken for either.
    ``password`` None leaves the login without a usable password (passkey
    only, or set later).
    """
    if kind == AccountKind.CITIZEN:
        login = personal_id or ""
    elif kind == AccountKind.BUSINESS:
        login = tax_code or ""
    elif kind == AccountKind.OFFICER:
        login = (username or "").strip()
        if not login or identifier_kind(login) != "username":
            raise ValidationError(
                {
                    "username": _(
                        "An officer's username must not look like a personal ID number "
                        "or a tax code."
                    )
                }
            )
    else:
        raise ValidationError({"kind": _("Unknown kind of account.")})

    user_model = get_user_model()
    user = user_model(username=login, email=email)
    account = Account(
        user=user,
        kind=kind,
        personal_id=personal_id or None,
        tax_code=tax_code or None,
        display_name=display_name,
        phone=phone,
        email=email,
    )
    account.full_clean(exclude=["user"])
    if user_model.objects.filter(username__iexact=login).exists():
        raise ValidationError({"username": _("An account with this identifier already exists.")})
    if password is None:
        user.set_unusable_password()
    else:
        validate_password(password, user)
        user.set_password(password)
    user.save()
    account.user = user
    account.save()
    audit.record(actor=actor, action="create", obj=account, source=source)
    return account


@transaction.atomic
def grant_role(*, actor: Any, user: Any, agency: Agency, role: str, source: str) -> OfficerRole:
    """Give an officer a role in an agency (a no-op if they already hold it)."""
    account = Account.objects.filter(user=user).first()
    if account is None or account.kind != AccountKind.OFFICER:
        raise ValidationError({"user": _("Only an officer's account can hold a role.")})
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    grant, created = OfficerRole.objects.get_or_create(user=user, agency=agency, role=role)
    permissions.forget(user)
    if created:
        audit.record(
            actor=actor,
            action="grant_role",
            obj=grant,
            changes={"role": role, "agency": agency.identifier},
            source=source,
        )
    return grant


@transaction.atomic
def revoke_role(*, actor: Any, grant: OfficerRole, source: str) -> None:
    audit.record(
        actor=actor,
        action="revoke_role",
        obj=grant,
        changes={"role": grant.role, "agency": grant.agency.identifier},
        source=source,
    )
    grant.delete()
    permissions.forget(grant.user)


def record_about_account(*, actor: Any, user: Any, action: str, changes: dict, source: str) -> None:
    """An audit record about how ``user`` signs in, in the caller's transaction.

    Filed under the user's account, or for staff without one under their
    user, so that their recent activity lists it either way.
    """
    account = Account.objects.filter(user=user).first()
    if account is not None:
        audit.record(actor=actor, action=action, obj=account, changes=changes, source=source)
    else:
        audit.record(
            actor=actor,
            action=action,
            object_type="identity.account",
            object_id=f"user:{user.pk}",
            object_repr=user.get_username(),
            changes=changes,
            source=source,
        )
