"""The signed-in session: starting it, its timeouts, enrolment and step-up.

Keys kept in the session (all times are Unix seconds):

- ``identity_pending``: between a right password and the second factor, the
  user id and when the password was given; not a sign-in yet.
- ``identity_started`` / ``identity_seen``: for the absolute and idle timeouts.
- ``identity_verified``: when the user last proved a second factor (a passkey,
  a code, or an approval on their paired phone); sensitive actions need it
  recent (``require_fresh_verification``).
- ``identity_enrol``: an officer signed in with a password but has no second
  factor yet; until they enrol one, every page but enrolment is closed.
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from importlib import import_module
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login, logout
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import redirect, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from lienthong.audit.middleware import client_address
from lienthong.identity import signin
from lienthong.identity.models import SignedInSession

PENDING = "identity_pending"
STARTED = "identity_started"
SEEN = "identity_seen"
VERIFIED = "identity_verified"
ENROL = "identity_enrol"
SOURCE = "web"

_BACKEND = "django.contrib.auth.backends.ModelBackend"


def now() -> float:
    return time.time()


# --- The two steps of signing in -------------------------------------------------


def begin_second_factor(request, user: Any) -> None:
    request.session.cycle_key()
    request.session[PENDING] = {"user": user.pk, "at": now()}


def pending_user(request) -> Any | None:
    """The user who gave a right password and owes a second factor, while still in time."""
    pending = request.session.get(PENDING)
    if not pending or now() - pending["at"] > settings.IDENTITY_PENDING_SECONDS:
        request.session.pop(PENDING, None)
        return None
    return get_user_model().objects.filter(pk=pending["user"], is_active=True).first()


def complete_sign_in(request, user: Any, methods: list[str]) -> None:
    """Sign the user in: a new session key (login() rotates it), fresh timers, audit."""
    request.session.pop(PENDING, None)
    login(request, user, backend=_BACKEND)
    remember_session(request, user)
    stamp = now()
    request.session[STARTED] = stamp
    request.session[SEEN] = stamp
    if any(m != signin.Method.PASSWORD for m in methods):
        request.session[VERIFIED] = stamp
    if signin.must_use_second_factor(user) and not signin.available_factors(user):
        request.session[ENROL] = True
    signin.signed_in(user=user, methods=methods, source=SOURCE)


def factor_enrolled(request) -> None:
    """The user just added a second factor: the enrolment gate opens, and
    proving the new factor counts as a fresh verification."""
    request.session.pop(ENROL, None)
    request.session[VERIFIED] = now()


def mark_verified(request) -> None:
    request.session[VERIFIED] = now()


def remember_session(request, user: Any) -> None:
    """Index this session's (new) key under the user, with the browser and address
    it began from: see ``end_sessions`` and ``active_sessions``."""
    if not request.session.session_key:
        request.session.save()
    SignedInSession.objects.update_or_create(
        session_key=request.session.session_key,
        defaults={
            "user": user,
            "ip_address": client_address(request),
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
            "last_seen_at": timezone.now(),
        },
    )
    if secrets.randbelow(50) == 0:
        cutoff = timezone.now() - timedelta(seconds=settings.IDENTITY_SESSION_ABSOLUTE_SECONDS)
        SignedInSession.objects.filter(created_at__lt=cutoff).delete()


def end_sessions(user: Any, keep: str | None = None) -> int:
    """End every session of ``user`` (but ``keep``), whatever the session engine."""
    store = _store()
    keys = list(
        SignedInSession.objects.filter(user=user)
        .exclude(session_key=keep or "")
        .values_list("session_key", flat=True)
    )
    for key in keys:
        store(session_key=key).delete()
    SignedInSession.objects.filter(session_key__in=keys).delete()
    return len(keys)


def _store():
    return import_module(settings.SESSION_ENGINE).SessionStore


def active_sessions(user: Any) -> list[SignedInSession]:
    """The user's sessions still alive, the most recently active first: within the
    absolute and idle timeouts, and still held by the session store (a row
    whose session is gone is dropped on the way)."""
    now = timezone.now()
    started_after = now - timedelta(seconds=settings.IDENTITY_SESSION_ABSOLUTE_SECONDS)
    seen_after = now - timedelta(seconds=settings.IDENTITY_SESSION_IDLE_SECONDS)
    rows = SignedInSession.objects.filter(
        user=user, created_at__gt=started_after, last_seen_at__gt=seen_after
    ).order_by("-last_seen_at", "-pk")
    store, alive, gone = _store(), [], []
    for row in rows:
        (alive if store().exists(row.session_key) else gone).append(row.pk)
    if gone:
        SignedInSession.objects.filter(pk__in=gone).delete()
    return [row for row in rows if row.pk in alive]


def end_session(request, row: SignedInSession) -> None:
    """End one other session of the signed-in user (the sessions page), audited."""
    from lienthong.approvals.services import describe_browser
    from lienthong.identity.services import record_about_account

    _store()(session_key=row.session_key).delete()
    with transaction.atomic():
        row.delete()
        record_about_account(
            actor=request.user,
            action="session_ended",
            user=request.user,
            changes={
                "reason": "user",
                "name": describe_browser(row.user_agent),
                "ip": row.ip_address,
            },
            source=SOURCE,
        )


def end_other_sessions(request) -> int:
    """End every session of the signed-in user but this one (the sessions page), audited."""
    from lienthong.identity.services import record_about_account

    ended = end_sessions(request.user, keep=request.session.session_key)
    with transaction.atomic():
        record_about_account(
            actor=request.user,
            action="sessions_ended",
            user=request.user,
            changes={"reason": "user", "count": ended},
            source=SOURCE,
        )
    return ended


def sign_out(request, reason: str) -> None:
    user = request.user if request.user.is_authenticated else None
    if user is not None:
        signin.signed_out(user=user, reason=reason, source=SOURCE)
        if request.session.session_key:
            SignedInSession.objects.filter(session_key=request.session.session_key).delete()
    logout(request)


def address(request) -> str | None:
    return client_address(request)


def admin_login(request, extra_context=None):
    """Replaces the admin's own sign-in page: staff sign in here too, with their
    second factor, instead of through a password-only form beside it."""
    target = request.GET.get("next") or reverse("admin:index")
    return redirect(f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': target})}")


# --- Step-up ---------------------------------------------------------------------


def recently_verified(request, seconds: int | None = None) -> bool:
    window = settings.IDENTITY_STEP_UP_SECONDS if seconds is None else seconds
    verified = request.session.get(VERIFIED)
    return verified is not None and now() - verified <= window


def can_step_up(user: Any) -> bool:
    """Whether the user has a way to prove it is them again: a second factor, or a
    paired phone to approve on (lienthong.approvals)."""
    from lienthong.approvals.services import has_paired_device

    return bool(signin.available_factors(user)) or has_paired_device(user)


def require_fresh_verification(
    view: Callable | None = None, *, seconds: int | None = None
) -> Callable:
    """Decorator for sensitive actions (changing factors, signing, approving a result):
    the user must have proved a passkey or a code, or approved on their paired
    phone, within ``seconds`` (IDENTITY_STEP_UP_SECONDS by default); otherwise
    they are sent to verify and come back. A user with no second factor and no
    paired phone yet cannot be asked for one and passes: that is how the first
    factor gets enrolled.
    """

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect(
                    f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': request.path})}"
                )
            if recently_verified(request, seconds) or not can_step_up(request.user):
                return view(request, *args, **kwargs)
            if request.content_type == "application/json":
                return JsonResponse(
                    {
                        "code": "verification_required",
                        "message_vi": "Vui lòng xác thực lại trước khi thực hiện thao tác này.",
                        "message_en": "Please verify it is you before doing this.",
                    },
                    status=403,
                )
            target = (
                request.get_full_path() if request.method == "GET" else reverse("identity:security")
            )
            return redirect(f"{reverse('identity:step-up')}?{urlencode({'next': target})}")

        return wrapped

    return decorator(view) if view is not None else decorator


# --- Middleware: timeouts and the officers' enrolment gate ------------------------

_SEEN_RESOLUTION = 30

# Reachable while an officer still has to enrol a second factor.
_ENROLMENT_OPEN = {
    "identity:security",
    "identity:totp-enrol",
    "identity:passkey-add",
    "identity:passkey-register-options",
    "identity:passkey-register",
    "identity:sign-out",
    "set_language",
}


class SessionPolicyMiddleware:
    """Ends sessions idle or old beyond the configured limits, and keeps an officer
    who has no second factor on the enrolment pages."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            stamp = now()
            started = request.session.setdefault(STARTED, stamp)
            seen = request.session.get(SEEN, stamp)
            idle = stamp - seen > settings.IDENTITY_SESSION_IDLE_SECONDS
            old = stamp - started > settings.IDENTITY_SESSION_ABSOLUTE_SECONDS
            if idle or old:
                sign_out(request, reason="idle_timeout" if idle else "absolute_timeout")
                messages.info(request, _("Your session has ended. Please sign in again."))
                return redirect(
                    f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': request.path})}"
                )
            if stamp - seen >= _SEEN_RESOLUTION:
                # Not on every request: each write is a session save (and an
                # UPDATE of the sessions page's row).
                request.session[SEEN] = stamp
                SignedInSession.objects.filter(session_key=request.session.session_key).update(
                    last_seen_at=timezone.now()
                )
            if request.session.get(ENROL) and not self._open(request):
                return redirect("identity:security")
        return self.get_response(request)

    @staticmethod
    def _open(request) -> bool:
        if request.path.startswith(settings.STATIC_URL):
            return True
        from django.urls import Resolver404, resolve

        try:
            match = resolve(request.path_info)
        except Resolver404:
            return False
        return match.view_name in _ENROLMENT_OPEN
