"""Reads for the approvals pages, each scoped to one user or one paired phone."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from lienthong.approvals.models import ApprovalRequest, Kind, PairedDevice, State


def devices_of(user: Any) -> QuerySet[PairedDevice]:
    """The user's phones that still approve (revoked ones are kept for history only)."""
    return PairedDevice.objects.filter(user=user, revoked_at__isnull=True)


def pending_for_device(device: PairedDevice) -> QuerySet[ApprovalRequest]:
    """What the phone shows: its own user's requests that wait and are in time."""
    return ApprovalRequest.objects.filter(
        user_id=device.user_id, state=State.PENDING, expires_at__gt=timezone.now()
    ).order_by("created_at")


def request_for_device(device: PairedDevice, pk: Any) -> ApprovalRequest | None:
    """One of the device's user's requests (any state), or None for another's or none."""
    return ApprovalRequest.objects.filter(user_id=device.user_id, pk=pk).first()


def request_of(user: Any, pk: Any, kind: str) -> ApprovalRequest | None:
    return ApprovalRequest.objects.filter(user=user, pk=pk, kind=kind).first()


def signature_answer(user: Any, pk: Any) -> tuple[ApprovalRequest | None, bool]:
    """The user's signature request ``pk`` and whether it is answered — approved,
    denied, gone or overdue: waiting is over and finishing says how it went."""
    approval = request_of(user, pk, Kind.SIGNATURE)
    return approval, approval is None or not approval.awaiting_answer()
