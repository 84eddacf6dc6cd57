"""lienthong identity issue-totp|reset-factors|grant-role|revoke-role|roles: accounts
from the command line.

    lienthong identity issue-totp USERNAME
    lienthong identity reset-factors USERNAME --operator YOU --reason "…" [--apply]
    lienthong identity grant-role USERNAME AGENCY ROLE
    lienthong identity revoke-role USERNAME AGENCY ROLE
    lienthong identity roles USERNAME

``issue-totp`` sets up an authenticator app for a user who cannot enrol one
on the web (a node's first operator: staff must have a second factor before
they reach the admin) and prints its key, its otpauth:// address and ten
backup codes, once. Hand them over in person.

``reset-factors`` is operator-assisted recovery (lienthong.identity.recovery):
it removes every second factor of a holder who lost them all, after their
identity was checked in person. It shows what it would remove unless
``--apply`` is given; then it asks for a current code of the operator's own
authenticator app (or takes ``--code``), and records who did it and why.
"""

from __future__ import annotations

import getpass

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from lienthong.directory.models import Agency
from lienthong.identity import factors, notify, recovery, services
from lienthong.identity.models import OfficerRole, Role, TotpDevice

ACTOR = "cli:identity"
SOURCE = "cli"


class Command(BaseCommand):
    help = "Authenticator apps and officers' roles, from the command line."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        issue = actions.add_parser("issue-totp", help="Set up an authenticator app for a user.")
        issue.add_argument("username")
        for name, text in (("grant-role", "Give"), ("revoke-role", "Take away")):
            role = actions.add_parser(name, help=f"{text} an officer a role in an agency.")
            role.add_argument("username")
            role.add_argument("agency", help="The agency's electronic identifier.")
            role.add_argument("role", choices=Role.values)
        reset = actions.add_parser(
            "reset-factors",
            help="Remove every second factor of a user who lost them (identity checked in person).",
        )
        reset.add_argument("username")
        reset.add_argument("--operator", required=True, help="Your own staff username.")
        reset.add_argument("--reason", required=True, help="How the holder's identity was checked.")
        reset.add_argument("--code", help="A current code of your authenticator app (else asked).")
        reset.add_argument("--apply", action="store_true", help="Do it (default: only show).")
        roles = actions.add_parser("roles", help="List an officer's roles.")
        roles.add_argument("username")

    def handle(self, *args, action, username, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        if action == "issue-totp":
            return self._issue(user)
        if action == "reset-factors":
            return self._reset(user, **options)
        if action == "roles":
            for grant in OfficerRole.objects.filter(user=user).select_related("agency"):
                self.stdout.write(f"{grant.agency.identifier}\t{grant.role}\t{grant.agency.name}")
            return None
        agency = Agency.objects.filter(identifier=options["agency"]).first()
        if agency is None:
            raise CommandError(f"No agency {options['agency']!r}.")
        if action == "grant-role":
            try:
                services.grant_role(
                    actor=ACTOR, user=user, agency=agency, role=options["role"], source=SOURCE
                )
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from exc
        else:
            grant = OfficerRole.objects.filter(
                user=user, agency=agency, role=options["role"]
            ).first()
            if grant is None:
                raise CommandError("The officer does not hold that role there.")
            services.revoke_role(actor=ACTOR, grant=grant, source=SOURCE)
        return None

    def _issue(self, user) -> None:
        secret, codes = factors.issue_totp(actor=ACTOR, user=user, source=SOURCE)
        device = TotpDevice.objects.get(user=user)
        self.stdout.write(f"Key: {secret}")
        self.stdout.write(f"Address: {factors.provisioning_uri(device)}")
        self.stdout.write("Backup codes (each works once):")
        for code in codes:
            self.stdout.write(f"  {code}")

    def _reset(self, user, *, operator, reason, code, apply, **options) -> None:
        held = recovery.factors_of(user)
        self.stdout.write(f"Second factors of {user.get_username()}: {', '.join(held) or 'none'}")
        if not apply:
            self.stdout.write("Nothing changed; run again with --apply to remove them.")
            return
        if code is None:
            code = getpass.getpass("Code from your authenticator app: ")
        try:
            acting = recovery.operator_with_code(username=operator, code=code, source=SOURCE)
            removed = recovery.reset_factors(actor=acting, user=user, reason=reason, source=SOURCE)
        except recovery.RecoveryRefused as exc:
            raise CommandError(exc.message) from exc
        # The holder's notice leaves in the background: let it go before exiting.
        notify.wait()
        self.stdout.write(f"Removed: {', '.join(removed) or 'nothing'}. The holder was told.")
