"""Pages of /approvals/: the computer's side (pairing a phone, waiting for a sign-in
or a step-up approval) and the phone's app (its pending requests, approve, deny).

The phone is not signed in: it is known by the secret in its app cookie,
set when it was paired, and it proves its passkey for every approval. The
passkey ceremonies reuse the account pages' script (identity/passkeys.js).
"""

from __future__ import annotations

import base64
import json
import secrets
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import Resolver404, resolve, reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from lienthong.approvals import ceremonies, selectors, services
from lienthong.approvals.models import Kind, PairedDevice, PairingCode
from lienthong.identity import sessions
from lienthong.identity import views as identity_views
from lienthong.identity.models import Account
from lienthong.identity.sessions import SOURCE, require_fresh_verification
from lienthong.identity.signin import Method

DEVICE_COOKIE = "lienthong_phone"
PAIRING = "approvals_pairing"
NONCE = "approvals_nonce"
SIGN_IN = "approvals_sign_in"
STEP_UP = "approvals_step_up"


def _qr_svg(text: str) -> str:
    import segno

    return segno.make(text, error="m").svg_inline(scale=5, border=2, omitsize=True)


def _error(exc: services.ApprovalRefused) -> JsonResponse:
    body = exc.body()
    return JsonResponse(body, status=exc.status)


def _device(request) -> PairedDevice | None:
    return services.device_for_secret(request.COOKIES.get(DEVICE_COOKIE, ""))


def _set_device_cookie(response, request, secret: str) -> None:
    response.set_cookie(
        DEVICE_COOKIE,
        secret,
        max_age=settings.APPROVALS_DEVICE_COOKIE_DAYS * 86400,
        path=reverse("approvals:app").rsplit("app/", 1)[0],
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",
    )


def _remember(request, key: str, **values) -> None:
    request.session[key] = {**values, "at": sessions.now()}


def _take(request, key: str, seconds: float) -> dict | None:
    """What was remembered under ``key``, removed so it serves once, if still in time."""
    held = request.session.pop(key, None)
    if not held or sessions.now() - held["at"] > seconds:
        return None
    return held


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- The computer: paired phones, pairing ----------------------------------------------


@login_required
def devices(request):
    return render(request, "approvals/devices.html")


@login_required
@require_fresh_verification
def pair_start(request):
    """GET explains; POST makes a one-time pairing code and shows it (once: only
    its hash is kept, so the page cannot be shown again)."""
    if request.method != "POST":
        return render(request, "approvals/pair_start.html")
    _pairing, token, short_code = services.start_pairing(user=request.user, source=SOURCE)
    link = request.build_absolute_uri(reverse("approvals:pair-link", args=[token]))
    return render(
        request,
        "approvals/pair_show.html",
        {
            "qr": _qr_svg(link),
            "link": link,
            "short_code": short_code,
            "code_url": request.build_absolute_uri(reverse("approvals:pair-code")),
            "minutes": settings.APPROVALS_PAIRING_SECONDS // 60,
        },
    )


@login_required
@require_POST
@require_fresh_verification
def device_revoke(request, pk: int):
    device = get_object_or_404(selectors.devices_of(request.user), pk=pk)
    services.revoke_device(user=request.user, device=device, source=SOURCE)
    messages.success(request, _("The phone was unpaired."))
    return redirect("approvals:devices")


# --- The phone: pairing -------------------------------------------------------------------


def _begin_pairing(request, **code):
    try:
        pairing = services.redeem_pairing(address=sessions.address(request), **code)
    except services.ApprovalRefused as exc:
        return exc
    _remember(request, PAIRING, pairing=pairing.pk)
    return None


def pair_link(request, token: str):
    """The QR code's URL: the token moves into this phone's session and out of the
    address bar (and of any later Referer)."""
    refusal = _begin_pairing(request, token=token)
    if refusal is not None:
        return render(request, "approvals/pair_code.html", {"error": refusal}, status=400)
    return redirect("approvals:pair-confirm")


def pair_code(request):
    """The typed code, for a phone that cannot scan the QR code."""
    if request.method == "POST":
        refusal = _begin_pairing(request, short_code=request.POST.get("code", ""))
        if refusal is None:
            return redirect("approvals:pair-confirm")
        status = 429 if refusal.code == "approval_locked" else 400
        return render(request, "approvals/pair_code.html", {"error": refusal}, status=status)
    return render(request, "approvals/pair_code.html")


def _held_pairing(request):
    held = request.session.get(PAIRING)
    if not held or sessions.now() - held["at"] > settings.APPROVALS_PAIRING_SECONDS:
        return None
    pairing = PairingCode.objects.select_related("user").filter(pk=held["pairing"]).first()
    return pairing if pairing is not None and pairing.usable() else None


def _display_name(user) -> str:
    account = Account.objects.filter(user=user).first()
    return account.display_name if account else user.get_username()


def pair_confirm(request):
    pairing = _held_pairing(request)
    if pairing is None:
        messages.error(request, _("The pairing code is wrong, has expired or was already used."))
        return redirect("approvals:pair-code")
    return render(
        request, "approvals/pair_confirm.html", {"account_name": _display_name(pairing.user)}
    )


@require_POST
def pair_options(request):
    pairing = _held_pairing(request)
    if pairing is None:
        return _error(services.refused("pairing_invalid"))
    handle = services.new_user_handle()
    options, challenge = ceremonies.registration_options(
        user=pairing.user, user_handle=handle, display_name=_display_name(pairing.user)
    )
    _remember(
        request,
        NONCE,
        purpose="pair",
        pairing=pairing.pk,
        challenge=_b64(challenge),
        handle=_b64(handle),
    )
    return JsonResponse(json.loads(options))


@require_POST
def pair_register(request):
    body = identity_views._json_body(request)
    held = _take(request, NONCE, ceremonies.TIMEOUT_MS / 1000)
    pairing = _held_pairing(request)
    if (
        not held
        or held.get("purpose") != "pair"
        or pairing is None
        or held["pairing"] != pairing.pk
    ):
        return _error(services.refused("pairing_invalid"))
    try:
        device, secret = services.register_device(
            pairing_id=pairing.pk,
            credential=body.get("credential"),
            challenge=base64.b64decode(held["challenge"]),
            user_handle=base64.b64decode(held["handle"]),
            origins=identity_views._origins(request),
            name=str(body.get("name") or ""),
            source=SOURCE,
        )
    except services.ApprovalRefused as exc:
        return _error(exc)
    request.session.pop(PAIRING, None)
    messages.success(
        request,
        _("This phone is paired as “%(name)s”. Approval requests will appear here.")
        % {"name": device.name},
    )
    response = JsonResponse({"redirect": reverse("approvals:app")})
    _set_device_cookie(response, request, secret)
    return response


# --- The phone: the app ------------------------------------------------------------------


def app(request):
    """The installed app's start page: this phone's pending requests, refreshed by
    htmx every few seconds (a link without JavaScript)."""
    device = _device(request)
    context = {
        "device": device,
        "pending": list(selectors.pending_for_device(device)) if device else [],
        "poll": settings.APPROVALS_POLL_SECONDS,
    }
    return render(request, "approvals/app.html", context)


def app_offline(request):
    """The page the service worker shows when the phone has no network."""
    return render(request, "approvals/offline.html")


def _device_request(request, pk):
    device = _device(request)
    approval = selectors.request_for_device(device, pk) if device else None
    if approval is None:
        # No phone, or not this phone's user: the same answer as for no request.
        raise Http404
    return device, approval


def app_request(request, pk):
    device, approval = _device_request(request, pk)
    return render(
        request,
        "approvals/app_request.html",
        {
            "device": device,
            "approval": approval,
            "answerable": approval.awaiting_answer(),
        },
    )


@require_POST
def app_approve_options(request, pk):
    device, approval = _device_request(request, pk)
    nonce = secrets.token_bytes(32)
    _remember(request, NONCE, purpose="approve", approval=str(approval.pk), nonce=_b64(nonce))
    return JsonResponse(
        json.loads(ceremonies.approval_options(request=approval, device=device, nonce=nonce))
    )


@require_POST
def app_approve(request, pk):
    device, approval = _device_request(request, pk)
    held = _take(request, NONCE, ceremonies.TIMEOUT_MS / 1000)
    if not held or held.get("purpose") != "approve" or held.get("approval") != str(approval.pk):
        return _error(services.refused("approval_not_verified"))
    try:
        services.approve(
            request_id=approval.pk,
            device=device,
            credential=identity_views._json_body(request).get("credential"),
            nonce=base64.b64decode(held["nonce"]),
            origins=identity_views._origins(request),
            source=SOURCE,
        )
    except services.ApprovalRefused as exc:
        return _error(exc)
    messages.success(request, _("Approved."))
    return JsonResponse({"redirect": reverse("approvals:app")})


@require_POST
def app_deny(request, pk):
    device, approval = _device_request(request, pk)
    try:
        services.deny(request_id=approval.pk, device=device, source=SOURCE)
    except services.ApprovalRefused as exc:
        messages.error(request, exc.body()["message"])
    else:
        messages.success(request, _("Denied. The request cannot be used any more."))
    return redirect("approvals:app")


@require_POST
def app_connect_options(request):
    from webauthn import generate_authentication_options, options_to_json
    from webauthn.helpers.structs import UserVerificationRequirement

    options = generate_authentication_options(
        rp_id=settings.IDENTITY_RP_ID,
        timeout=ceremonies.TIMEOUT_MS,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    _remember(request, NONCE, purpose="connect", challenge=_b64(options.challenge))
    return JsonResponse(json.loads(options_to_json(options)))


@require_POST
def app_connect(request):
    held = _take(request, NONCE, ceremonies.TIMEOUT_MS / 1000)
    if not held or held.get("purpose") != "connect":
        return _error(services.refused("approval_not_verified"))
    try:
        _device_row, secret = services.reconnect_device(
            credential=identity_views._json_body(request).get("credential"),
            challenge=base64.b64decode(held["challenge"]),
            origins=identity_views._origins(request),
            address=sessions.address(request),
            source=SOURCE,
        )
    except services.ApprovalRefused as exc:
        return _error(exc)
    response = JsonResponse({"redirect": reverse("approvals:app")})
    _set_device_cookie(response, request, secret)
    return response


def manifest(request):
    """The web app manifest: what makes the phone's pages an installable app."""
    app_url = reverse("approvals:app")
    icons = [
        {"src": static("approvals/icon-192.png"), "sizes": "192x192", "type": "image/png"},
        {"src": static("approvals/icon-512.png"), "sizes": "512x512", "type": "image/png"},
        {
            "src": static("approvals/icon-512.png"),
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        },
        {"src": static("approvals/icon.svg"), "sizes": "any", "type": "image/svg+xml"},
    ]
    body = {
        "name": _("Liên Thông approvals"),
        "short_name": _("Approvals"),
        "description": _("Approve sign-ins and signatures of your Liên Thông account."),
        "id": app_url,
        "start_url": app_url,
        "scope": reverse("approvals:service-worker").rsplit("/", 1)[0] + "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0b4f8a",
        "lang": get_language() or "vi",
        "icons": icons,
    }
    return JsonResponse(
        body, content_type="application/manifest+json", json_dumps_params={"ensure_ascii": False}
    )


def service_worker(request):
    body = render_to_string("approvals/sw.js", request=request)
    response = HttpResponse(body, content_type="text/javascript")
    # The worker itself is always fetched fresh, so a new version takes over.
    response["Cache-Control"] = "no-cache"
    return response


# --- The computer: signing in with the phone's approval -----------------------------------


@require_POST
def sign_in_start(request):
    """From the second step of signing in: ask the user's phone."""
    user = sessions.pending_user(request)
    if user is None:
        messages.info(request, _("Please sign in again."))
        return redirect("identity:sign-in")
    try:
        approval = services.request_sign_in(user=user, request=request, source=SOURCE)
    except services.ApprovalRefused as exc:
        messages.error(request, exc.body()["message"])
        return redirect("identity:sign-in-verify")
    request.session[SIGN_IN] = str(approval.pk)
    return redirect("approvals:sign-in-wait")


_SIGN_IN_REFUSALS = {
    "approval_denied": _lazy("The sign-in was denied on your phone."),
    "approval_expired": _lazy("The request to your phone has expired. Please choose again."),
}


def _back_to_choice(request, message: str):
    request.session.pop(SIGN_IN, None)
    messages.error(request, str(message))
    target = reverse("identity:sign-in-verify")
    return HttpResponseClientRedirect(target) if request.htmx else redirect(target)


def sign_in_wait(request):
    """The computer waits here while the phone answers; htmx asks again every few
    seconds, and without JavaScript the person follows the link."""
    user = sessions.pending_user(request)
    request_id = request.session.get(SIGN_IN)
    if user is None or not request_id:
        request.session.pop(SIGN_IN, None)
        messages.info(request, _("Please sign in again."))
        target = reverse("identity:sign-in")
        return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
    approval = selectors.request_of(user, request_id, Kind.SIGN_IN)
    if approval is None or not approval.awaiting_answer():
        # Answered (or overdue): consume() hands an approval over once, and
        # says why not otherwise (expiring an overdue request on the way).
        try:
            services.consume(request_id=request_id, user=user, kind=Kind.SIGN_IN, source=SOURCE)
        except services.ApprovalRefused as exc:
            return _back_to_choice(
                request, _SIGN_IN_REFUSALS.get(exc.code) or exc.body()["message"]
            )
        request.session.pop(SIGN_IN, None)
        # The account pages' own completion: session rotation, timers, audit.
        target = identity_views._finish(request, user, [Method.PASSWORD, Method.PHONE])
        return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
    return render(
        request,
        "approvals/sign_in_wait.html",
        {"approval": approval, "poll": settings.APPROVALS_POLL_SECONDS},
    )


# --- The computer, signed in: confirming it is you (step-up) on the phone ----------------

# What the phone calls the action waiting for the step-up, by the page it returns to.
_ACTIONS = {
    "identity:security": _lazy("Change how you sign in"),
    "identity:password-change": _lazy("Change your password"),
    "identity:totp-enrol": _lazy("Set up an authenticator app"),
    "identity:sms-enable": _lazy("Turn on SMS codes"),
    "identity:passkey-add": _lazy("Add a passkey"),
    "approvals:pair-start": _lazy("Pair a phone"),
    "signing:index": _lazy("Manage your signing keys"),
}


def describe_action(path: str) -> str:
    """The action a step-up is for, as the phone shows it: its name and the page."""
    try:
        name = resolve(path.split("?", 1)[0]).view_name
    except Resolver404:
        name = ""
    label = _ACTIONS.get(name) or _lazy("A sensitive action on your account")
    return f"{label} ({path})"[:300]


def _step_up_page(next_url: str) -> str:
    return f"{reverse('identity:step-up')}?{urlencode({'next': next_url})}"


@login_required
@require_POST
def step_up_start(request):
    """From the step-up page: ask the user's phone to confirm the action."""
    next_url = identity_views._safe_next(request, request.POST.get("next"))
    try:
        approval = services.request_step_up(
            user=request.user, request=request, action=describe_action(next_url), source=SOURCE
        )
    except services.ApprovalRefused as exc:
        messages.error(request, exc.body()["message"])
        return redirect(_step_up_page(next_url))
    request.session[STEP_UP] = {"id": str(approval.pk), "next": next_url}
    return redirect("approvals:step-up-wait")


_STEP_UP_REFUSALS = {
    "approval_denied": _lazy("The confirmation was denied on your phone."),
    "approval_expired": _lazy("The request to your phone has expired. Please choose again."),
}


@login_required
def step_up_wait(request):
    """The computer waits here while the phone answers (htmx, or the link); once
    approved, the session counts as freshly verified and the action goes on."""
    held = request.session.get(STEP_UP)
    if not held:
        target = reverse("identity:security")
        return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
    approval = selectors.request_of(request.user, held["id"], Kind.STEP_UP)
    if approval is None or not approval.awaiting_answer():
        request.session.pop(STEP_UP, None)
        try:
            services.consume(
                request_id=held["id"], user=request.user, kind=Kind.STEP_UP, source=SOURCE
            )
        except services.ApprovalRefused as exc:
            messages.error(request, str(_STEP_UP_REFUSALS.get(exc.code) or exc.body()["message"]))
            target = _step_up_page(held["next"])
        else:
            sessions.mark_verified(request)
            target = held["next"]
        return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
    return render(
        request,
        "approvals/step_up_wait.html",
        {
            "approval": approval,
            "poll": settings.APPROVALS_POLL_SECONDS,
            "other_way": _step_up_page(held["next"]),
        },
    )
