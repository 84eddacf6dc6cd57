"""Pages of /account/: signing in and out, second factors, passkeys, recent activity.

Thin views: the rules are in signin, factors, passkeys and sessions. Every
page works without JavaScript except the passkey ceremonies themselves,
which need the browser's WebAuthn API (static/identity/passkeys.js).
"""

from __future__ import annotations

import base64
import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from lienthong.approvals.services import has_paired_device
from lienthong.identity import factors, passkeys, selectors, sessions, signin
from lienthong.identity.forms import CodeForm, PasskeyNameForm, SecondFactorForm, SignInForm
from lienthong.identity.models import Account
from lienthong.identity.sessions import SOURCE, require_fresh_verification
from lienthong.identity.signin import Method, Outcome

CHALLENGE = "identity_webauthn"
NEXT = "identity_next"


def _safe_next(request, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("identity:security")


def _locked_message() -> str:
    minutes = settings.IDENTITY_LOCKOUT_SECONDS // 60
    return _("Too many failed attempts. Please wait %(minutes)s minutes and try again.") % {
        "minutes": minutes
    }


def _locked_json() -> JsonResponse:
    minutes = settings.IDENTITY_LOCKOUT_SECONDS // 60
    return JsonResponse(
        {
            "code": "locked",
            "message": _locked_message(),
            "message_vi": f"Quá nhiều lần thử không thành công. Vui lòng chờ {minutes} phút rồi thử lại.",
            "message_en": f"Too many failed attempts. Please wait {minutes} minutes and try again.",
        },
        status=429,
    )


def _finish(request, user, methods: list[str]) -> str:
    sessions.complete_sign_in(request, user, methods)
    return _safe_next(request, request.session.pop(NEXT, None))


# --- Signing in ------------------------------------------------------------------


def sign_in(request):
    if request.method == "GET" and request.GET.get("next"):
        request.session[NEXT] = _safe_next(request, request.GET["next"])
    form = SignInForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        outcome, user = signin.check_password(
            identifier=form.cleaned_data["identifier"],
            password=form.cleaned_data["password"],
            address=sessions.address(request),
            source=SOURCE,
        )
        if outcome is Outcome.LOCKED:
            form.add_error(None, _locked_message())
        elif outcome is Outcome.INVALID:
            # The same words for an unknown identifier and a wrong password.
            form.add_error(None, _("The identifier or the password is wrong."))
        elif signin.available_factors(user) or has_paired_device(user):
            next_url = request.session.get(NEXT)
            sessions.begin_second_factor(request, user)
            if next_url:
                request.session[NEXT] = next_url
            return redirect("identity:sign-in-verify")
        else:
            return redirect(_finish(request, user, [Method.PASSWORD]))
    return render(request, "identity/sign_in.html", {"form": form})


def sign_in_verify(request):
    user = sessions.pending_user(request)
    if user is None:
        messages.info(request, _("Please sign in again."))
        return redirect("identity:sign-in")
    methods = signin.available_factors(user)
    form = SecondFactorForm(request.POST or None, methods=methods)
    if request.method == "POST" and "send_sms" in request.POST and Method.SMS in methods:
        _send_sms(request, user, user.account.phone)
        form = SecondFactorForm(initial={"method": "sms"}, methods=methods)
    elif request.method == "POST" and form.is_valid():
        outcome = signin.check_code(
            user=user,
            method=Method(form.cleaned_data["method"]),
            code=form.cleaned_data["code"],
            address=sessions.address(request),
            source=SOURCE,
        )
        if outcome is Outcome.OK:
            return redirect(_finish(request, user, [Method.PASSWORD, form.cleaned_data["method"]]))
        if outcome is Outcome.LOCKED:
            request.session.flush()
            messages.error(request, _locked_message())
            return redirect("identity:sign-in")
        form.add_error("code", _("The code is wrong or has expired."))
    return render(
        request,
        "identity/sign_in_verify.html",
        {
            "form": form,
            "methods": methods,
            "passkey": Method.PASSKEY in methods,
            "phone": has_paired_device(user),
        },
    )


def _send_sms(request, user, phone: str) -> None:
    try:
        factors.send_sms_code(user=user, phone=phone)
    except factors.SmsTooSoon:
        messages.error(request, _("A code was sent less than a minute ago. Please wait."))
    else:
        messages.success(request, _("A code was sent to your phone."))


@require_POST
def sign_out(request):
    sessions.sign_out(request, reason="user")
    messages.success(request, _("You have signed out."))
    return redirect("identity:sign-in")


# --- Passkey ceremonies (JSON, driven by static/identity/passkeys.js) -----------------


def _json_body(request) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = {}
    return body if isinstance(body, dict) else {}


def _remember_challenge(request, purpose: str, challenge: bytes) -> None:
    request.session[CHALLENGE] = {
        "purpose": purpose,
        "challenge": base64.b64encode(challenge).decode(),
        "at": sessions.now(),
    }


def _take_challenge(request, purpose: str) -> bytes:
    """The challenge handed out for this purpose, removed so it answers only once."""
    held = request.session.pop(CHALLENGE, None)
    if (
        not held
        or held["purpose"] != purpose
        or sessions.now() - held["at"] > passkeys.TIMEOUT_MS / 1000
    ):
        raise passkeys.no_challenge()
    return base64.b64decode(held["challenge"])


def _origins(request) -> list[str]:
    """The origins a ceremony may come from: IDENTITY_ORIGINS, or outside production
    this page's own origin when its host is the relying-party id (localhost)."""
    if settings.IDENTITY_ORIGINS:
        return list(settings.IDENTITY_ORIGINS)
    host = request.get_host()
    if not settings.PRODUCTION and host.rsplit(":", 1)[0] == settings.IDENTITY_RP_ID:
        return [f"{request.scheme}://{host}"]
    return []


def _error(exc: passkeys.PasskeyRefused) -> JsonResponse:
    return JsonResponse(exc.body(), status=exc.status)


def _options(json_text: str) -> JsonResponse:
    return JsonResponse(json.loads(json_text))


@require_POST
def passkey_sign_in_options(request):
    user = sessions.pending_user(request)
    options, challenge = passkeys.authentication_options(user=user)
    _remember_challenge(request, "sign-in", challenge)
    return _options(options)


@require_POST
def passkey_sign_in(request):
    """Passkey sign-in: alone (discoverable), or as the second step after a password."""
    user = sessions.pending_user(request)
    address = sessions.address(request)
    if signin.passkey_locked(user=user, address=address):
        return _locked_json()
    try:
        challenge = _take_challenge(request, "sign-in")
        passkey = passkeys.authenticate(
            credential=_json_body(request).get("credential"),
            challenge=challenge,
            origins=_origins(request),
            user=user,
        )
    except passkeys.PasskeyRefused as exc:
        signin.passkey_failed(user=user, address=address, source=SOURCE)
        return _error(exc)
    methods = [Method.PASSWORD, Method.PASSKEY] if user is not None else [Method.PASSKEY]
    return JsonResponse({"redirect": _finish(request, passkey.user, methods)})


@login_required
@require_POST
@require_fresh_verification
def passkey_register_options(request):
    options, challenge = passkeys.registration_options(user=request.user)
    _remember_challenge(request, "register", challenge)
    return _options(options)


@login_required
@require_POST
@require_fresh_verification
def passkey_register(request):
    body = _json_body(request)
    try:
        challenge = _take_challenge(request, "register")
        passkeys.register(
            user=request.user,
            credential=body.get("credential"),
            challenge=challenge,
            origins=_origins(request),
            name=str(body.get("name") or ""),
            source=SOURCE,
        )
    except passkeys.PasskeyRefused as exc:
        return _error(exc)
    sessions.factor_enrolled(request)
    messages.success(request, _("The passkey was added."))
    return JsonResponse({"redirect": reverse("identity:security")})


@login_required
@require_POST
def passkey_verify_options(request):
    options, challenge = passkeys.authentication_options(user=request.user)
    _remember_challenge(request, "verify", challenge)
    return _options(options)


@login_required
@require_POST
def passkey_verify(request):
    address = sessions.address(request)
    if signin.passkey_locked(user=request.user, address=address):
        return _locked_json()
    try:
        challenge = _take_challenge(request, "verify")
        passkeys.authenticate(
            credential=_json_body(request).get("credential"),
            challenge=challenge,
            origins=_origins(request),
            user=request.user,
        )
    except passkeys.PasskeyRefused as exc:
        signin.passkey_failed(user=request.user, address=address, source=SOURCE)
        return _error(exc)
    sessions.mark_verified(request)
    return JsonResponse({"redirect": _safe_next(request, _json_body(request).get("next"))})


# --- The account's security page ---------------------------------------------------


@login_required
def security(request):
    user = request.user
    return render(
        request,
        "identity/security.html",
        {
            "account": Account.objects.filter(user=user).first(),
            "has_totp": factors.has_totp(user),
            "backup_codes_left": factors.remaining_backup_codes(user),
            "passkeys": user.passkeys.all(),
            "enrolment_required": request.session.get(sessions.ENROL, False),
            "methods": signin.available_factors(user),
        },
    )


@login_required
def step_up(request):
    """Prove a second factor again before a sensitive action."""
    user = request.user
    methods = [m for m in signin.available_factors(user) if m != Method.BACKUP_CODE]
    next_url = _safe_next(request, request.GET.get("next") or request.POST.get("next"))
    form = SecondFactorForm(request.POST or None, methods=methods)
    if request.method == "POST" and "send_sms" in request.POST and Method.SMS in methods:
        _send_sms(request, user, user.account.phone)
        form = SecondFactorForm(initial={"method": "sms"}, methods=methods)
    elif request.method == "POST" and form.is_valid():
        outcome = signin.check_code(
            user=user,
            method=Method(form.cleaned_data["method"]),
            code=form.cleaned_data["code"],
            address=sessions.address(request),
            source=SOURCE,
        )
        if outcome is Outcome.OK:
            sessions.mark_verified(request)
            return redirect(next_url)
        if outcome is Outcome.LOCKED:
            sessions.sign_out(request, reason="locked")
            messages.error(request, _locked_message())
            return redirect("identity:sign-in")
        form.add_error("code", _("The code is wrong or has expired."))
    return render(
        request,
        "identity/step_up.html",
        {
            "form": form,
            "next": next_url,
            "passkey": Method.PASSKEY in methods,
            "has_codes": any(m != Method.PASSKEY for m in methods),
            "sms": Method.SMS in methods,
            "phone": has_paired_device(user),
        },
    )


def _leaves_officer_without_factor(user, removing: str, passkey=None) -> bool:
    if not signin.must_use_second_factor(user):
        return False
    remaining = set(signin.available_factors(user)) - {Method.BACKUP_CODE}
    if removing == Method.PASSKEY and user.passkeys.exclude(pk=passkey.pk).exists():
        return False
    remaining.discard(removing)
    return not remaining


@login_required
@require_fresh_verification
def totp_enrol(request):
    user = request.user
    if factors.has_totp(user):
        return redirect("identity:security")
    if request.method == "POST":
        form = CodeForm(request.POST)
        if form.is_valid():
            codes = factors.confirm_totp(user=user, code=form.cleaned_data["code"], source=SOURCE)
            if codes is not None:
                sessions.factor_enrolled(request)
                return render(request, "identity/backup_codes.html", {"codes": codes})
            form.add_error("code", _("The code is wrong or has expired."))
        device = user.totp_device
    else:
        form = CodeForm()
        device = factors.start_totp_enrolment(user=user)
    uri = factors.provisioning_uri(device)
    return render(
        request,
        "identity/totp_enrol.html",
        {"form": form, "qr": factors.qr_data_uri(uri), "secret": factors.totp_secret(device)},
    )


@login_required
@require_POST
@require_fresh_verification
def totp_remove(request):
    if _leaves_officer_without_factor(request.user, Method.TOTP):
        messages.error(request, _("Officers must keep at least one second factor."))
    else:
        factors.remove_totp(actor=request.user, user=request.user, source=SOURCE)
        messages.success(request, _("The authenticator app was removed."))
    return redirect("identity:security")


@login_required
@require_POST
@require_fresh_verification
def backup_codes(request):
    if not factors.has_totp(request.user):
        return redirect("identity:security")
    codes = factors.regenerate_backup_codes(user=request.user, source=SOURCE)
    return render(request, "identity/backup_codes.html", {"codes": codes})


@login_required
@require_fresh_verification
def sms_enable(request):
    account = get_object_or_404(Account, user=request.user)
    form = CodeForm(request.POST if "code" in request.POST else None)
    if request.method == "POST" and "send_sms" in request.POST and account.phone:
        _send_sms(request, request.user, account.phone)
    elif request.method == "POST" and form.is_valid():
        if factors.enable_sms(user=request.user, code=form.cleaned_data["code"], source=SOURCE):
            sessions.factor_enrolled(request)
            messages.success(request, _("SMS codes are turned on."))
            return redirect("identity:security")
        form.add_error("code", _("The code is wrong or has expired."))
    return render(request, "identity/sms_enable.html", {"form": form, "account": account})


@login_required
@require_POST
@require_fresh_verification
def sms_disable(request):
    if _leaves_officer_without_factor(request.user, Method.SMS):
        messages.error(request, _("Officers must keep at least one second factor."))
    else:
        factors.disable_sms(actor=request.user, user=request.user, source=SOURCE)
        messages.success(request, _("SMS codes are turned off."))
    return redirect("identity:security")


@login_required
@require_fresh_verification
def passkey_add(request):
    return render(request, "identity/passkey_add.html", {"form": PasskeyNameForm()})


@login_required
@require_POST
@require_fresh_verification
def passkey_rename(request, pk: int):
    passkey = get_object_or_404(request.user.passkeys, pk=pk)
    form = PasskeyNameForm(request.POST)
    if form.is_valid():
        passkeys.rename(
            user=request.user, passkey=passkey, name=form.cleaned_data["name"], source=SOURCE
        )
        messages.success(request, _("The passkey was renamed."))
    else:
        messages.error(request, _("Please give the passkey a name."))
    return redirect("identity:security")


@login_required
@require_POST
@require_fresh_verification
def passkey_revoke(request, pk: int):
    passkey = get_object_or_404(request.user.passkeys, pk=pk)
    if _leaves_officer_without_factor(request.user, Method.PASSKEY, passkey):
        messages.error(request, _("Officers must keep at least one second factor."))
    else:
        passkeys.revoke(user=request.user, passkey=passkey, source=SOURCE)
        messages.success(request, _("The passkey was removed."))
    return redirect("identity:security")


@login_required
def activity(request):
    return render(
        request, "identity/activity.html", {"records": selectors.recent_activity(request.user)}
    )


# --- Your sessions ---------------------------------------------------------------------


@login_required
def session_list(request):
    """The user's signed-in sessions (browsers, devices): where and when each began,
    its last activity; this one marked; end one, or all the others."""
    from lienthong.approvals.services import describe_browser

    current = request.session.session_key
    rows = sessions.active_sessions(request.user)
    if not any(row.session_key == current for row in rows):
        # Signed in before sessions were indexed with their details: index it now.
        sessions.remember_session(request, request.user)
        rows = sessions.active_sessions(request.user)
    return render(
        request,
        "identity/sessions.html",
        {
            "rows": [
                {
                    "row": row,
                    "browser": describe_browser(row.user_agent),
                    "current": row.session_key == current,
                }
                for row in rows
            ],
            "others": sum(row.session_key != current for row in rows),
        },
    )


@login_required
@require_POST
def session_end(request, pk: int):
    """Sign out one other session; this one signs out with "Sign out"."""
    row = get_object_or_404(
        request.user.signed_in_sessions.exclude(session_key=request.session.session_key or ""),
        pk=pk,
    )
    sessions.end_session(request, row)
    messages.success(request, _("That session was signed out."))
    return redirect("identity:sessions")


@login_required
@require_POST
def sessions_end_others(request):
    ended = sessions.end_other_sessions(request)
    messages.success(request, _("Signed out of %(count)s other session(s).") % {"count": ended})
    return redirect("identity:sessions")
