"""Pages of /account/ for passwords: changing one, resetting a forgotten one, and
what to do when the second factor is lost.

Thin views over lienthong.identity.passwords; kept apart from views.py, which
holds the sign-in and second-factor pages. None of them needs JavaScript.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from lienthong.identity import passwords, sessions
from lienthong.identity.forms import NewPasswordForm, PasswordChangeForm, ResetRequestForm
from lienthong.identity.passwords import ResetRequest
from lienthong.identity.sessions import SOURCE, require_fresh_verification
from lienthong.identity.signin import Outcome
from lienthong.identity.views import _locked_message

# The reset link's token, kept in the session once opened so that it leaves
# the address bar (and the Referer of anything the next page loads).
RESET = "identity_reset"


@login_required
@require_fresh_verification
def password_change(request):
    user = request.user
    form = PasswordChangeForm(request.POST or None, needs_current=user.has_usable_password())
    if request.method == "POST" and form.is_valid():
        try:
            outcome = passwords.change_password(
                user=user,
                current_password=form.cleaned_data.get("current_password"),
                new_password=form.cleaned_data["new_password1"],
                address=sessions.address(request),
                source=SOURCE,
            )
        except ValidationError as exc:
            form.add_error("new_password1", exc)
        else:
            if outcome is Outcome.OK:
                # A new session key for this browser; every other session of the
                # user holds the old password's hash and ends at its next request.
                update_session_auth_hash(request, user)
                sessions.remember_session(request, user)
                sessions.end_sessions(user, keep=request.session.session_key)
                messages.success(
                    request, _("Your password was changed. You were signed out everywhere else.")
                )
                return redirect("identity:security")
            if outcome is Outcome.LOCKED:
                sessions.sign_out(request, reason="locked")
                messages.error(request, _locked_message())
                return redirect("identity:sign-in")
            form.add_error("current_password", _("The current password is wrong."))
    return render(request, "identity/password_change.html", {"form": form})


def _link_for(uidb64: str, token: str, request) -> str:
    path = reverse("identity:password-reset-link", args=[uidb64, token])
    # The node's configured origin when there is one; else this request's host,
    # which ALLOWED_HOSTS has vouched for.
    if settings.IDENTITY_ORIGINS:
        return settings.IDENTITY_ORIGINS[0].rstrip("/") + path
    return request.build_absolute_uri(path)


def password_reset(request):
    form = ResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        outcome = passwords.request_reset(
            identifier=form.cleaned_data["identifier"],
            address=sessions.address(request),
            link_for=lambda uidb64, token: _link_for(uidb64, token, request),
            source=SOURCE,
        )
        if outcome is ResetRequest.ACCEPTED:
            return redirect("identity:password-reset-sent")
        form.add_error(None, _locked_message())
        return render(request, "identity/password_reset.html", {"form": form}, status=429)
    return render(request, "identity/password_reset.html", {"form": form})


def password_reset_sent(request):
    return render(
        request,
        "identity/password_reset_sent.html",
        {"minutes": settings.PASSWORD_RESET_TIMEOUT // 60},
    )


def password_reset_link(request, uidb64: str, token: str):
    if passwords.user_for_link(uidb64, token) is None:
        passwords.link_refused(address=sessions.address(request), source=SOURCE)
        return render(request, "identity/password_reset_invalid.html")
    request.session[RESET] = {"uid": uidb64, "token": token}
    return redirect("identity:password-reset-new", uidb64=uidb64)


def password_reset_new(request, uidb64: str):
    held = request.session.get(RESET)
    if not held or held["uid"] != uidb64 or passwords.user_for_link(uidb64, held["token"]) is None:
        request.session.pop(RESET, None)
        return render(request, "identity/password_reset_invalid.html")
    form = NewPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = passwords.reset_password(
                uidb64=uidb64,
                token=held["token"],
                new_password=form.cleaned_data["new_password1"],
                address=sessions.address(request),
                source=SOURCE,
            )
        except ValidationError as exc:
            form.add_error("new_password1", exc)
        else:
            request.session.pop(RESET, None)
            if user is None:
                return render(request, "identity/password_reset_invalid.html")
            # Not signed in: the sign-in page asks for the new password and, as
            # before, the second factor.
            messages.success(
                request,
                _(
                    "Your password was changed. Sign in with it; you will still need "
                    "your second factor if you have one."
                ),
            )
            return redirect("identity:sign-in")
    return render(request, "identity/password_reset_new.html", {"form": form})


def recovery(request):
    """What to do when the second factor is lost: a backup code, or the agency."""
    return render(request, "identity/recovery.html")
