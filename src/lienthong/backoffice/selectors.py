"""Reads for the officers' pages, always within the agencies the officer works for."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from lienthong.directory.models import Agency
from lienthong.dossiers import selectors as dossiers
from lienthong.dossiers import workflow
from lienthong.dossiers.models import (
    Attachment,
    AttemptState,
    Dossier,
    PaymentAttempt,
    SupplementRequest,
)
from lienthong.dossiers.selectors import declaration  # noqa: F401  (the dossier page's)
from lienthong.identity import permissions
from lienthong.identity.permissions import agencies_for

OFFICER_ROLES = dossiers.OFFICER_ROLES


def officer_agencies(user: Any) -> QuerySet[Agency]:
    """The agencies where ``user`` holds an officer role (one-stop, specialist, leader)."""
    return agencies_for(user, OFFICER_ROLES)


def is_officer(user: Any) -> bool:
    """Whether ``officer_agencies(user)`` has any: asked on every page (the menu), so
    of the roles alone, without the agencies' table."""
    return any(role in OFFICER_ROLES for _agency, role in permissions.held(user))


def agency_dossier(user: Any, agency: Agency, code: str) -> Dossier | None:
    """The dossier ``code`` as seen from ``agency``'s back office: one the agency
    received or holds now, and that ``user`` may see; None when absent or
    forbidden alike."""
    dossier = dossiers.dossier_for(user, code)
    if dossier is None or agency.pk not in (dossier.current_agency_id, dossier.receiving_agency_id):
        return None
    return dossier


def attachments(dossier: Dossier) -> QuerySet[Attachment]:
    return dossier.attachments.select_related("document").order_by("uploaded_at", "id")


def open_supplement_request(dossier: Dossier) -> SupplementRequest | None:
    return dossier.supplement_requests.filter(answered_at__isnull=True).first()


def next_moves(user: Any, dossier: Dossier) -> set[int]:
    """The statuses the state machine lets ``user`` move ``dossier`` to now: the
    page shows only the forms that can succeed (the service decides again on POST)."""
    capacities = workflow.capacities(user, dossier)
    return {
        int(to)
        for to in workflow.next_statuses(dossier.status)
        if workflow.allowed_roles(dossier.status, to) & capacities
    }


# How far back the refunds page lists the refunds made.
REFUNDED_SINCE = dt.timedelta(days=90)


def _agency_payments(agency: Agency) -> QuerySet[PaymentAttempt]:
    """Online payment attempts of the dossiers ``agency`` received or holds (as its
    dossier pages are), with what the refunds page shows of them."""
    return PaymentAttempt.objects.filter(
        Q(payment__dossier__receiving_agency=agency) | Q(payment__dossier__current_agency=agency)
    ).select_related("payment__dossier", "refunded_by")


def payments_to_refund(agency: Agency) -> QuerySet[PaymentAttempt]:
    """Money taken twice for one fee of the agency's dossiers, not refunded yet: the
    oldest first."""
    return _agency_payments(agency).filter(state=AttemptState.SURPLUS).order_by("closed_at", "id")


def payments_refunded(
    agency: Agency, *, now: dt.datetime | None = None
) -> QuerySet[PaymentAttempt]:
    """The agency's refunds of the last ``REFUNDED_SINCE``, the latest first."""
    since = (now or timezone.now()) - REFUNDED_SINCE
    return (
        _agency_payments(agency)
        .filter(state=AttemptState.REFUNDED, refunded_at__gte=since)
        .order_by("-refunded_at", "-id")
    )


def taken_twice(dossier: Any) -> list[PaymentAttempt]:
    """The dossier's online payments taken after its fee was paid otherwise: to refund,
    or refunded (its page says which, with the refund's reference)."""
    return list(
        PaymentAttempt.objects.filter(
            payment__dossier=dossier, state__in=(AttemptState.SURPLUS, AttemptState.REFUNDED)
        )
        .select_related("payment")
        .order_by("closed_at", "id")
    )


def payment_to_refund(agency: Agency, attempt_id: int) -> PaymentAttempt | None:
    """One of the agency's payment attempts, refunded or to refund; None otherwise."""
    return (
        _agency_payments(agency)
        .filter(pk=attempt_id, state__in=(AttemptState.SURPLUS, AttemptState.REFUNDED))
        .first()
    )
