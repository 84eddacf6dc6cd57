"""/account/signing/: the user's signing keys (remote signing) and the applications' tokens.

Thin views over lienthong.signing.services. Nothing here signs: signing
happens where a document is (the dossiers, the back office) or through the
CSC API, each time with the user's one-time code or phone approval.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from lienthong.identity.sessions import SOURCE, require_fresh_verification
from lienthong.signing import keys, links, oauth2code, providers, selectors, services, tokens
from lienthong.signing.errors import SigningRefused
from lienthong.signing.forms import CredentialRequestForm, ProviderTokenForm, TokenForm
from lienthong.signing.models import AccessToken, CredentialStatus

# Where the session keeps the OAuth state between leaving for the service and coming back.
OAUTH_SESSION_KEY = "signing_provider_oauth"


def _message(exc: SigningRefused) -> str:
    return exc.message_en if (get_language() or "vi").startswith("en") else exc.message_vi


def _page(
    request,
    *,
    credential_form=None,
    token_form=None,
    new_token=None,
    link_form=None,
    link_error="",
    status=200,
):
    credentials = list(selectors.credentials_of(request.user))
    for credential in credentials:
        credential.request_pem = (
            keys.request_pem(credential)
            if credential.status == CredentialStatus.AWAITING_CERTIFICATE
            else ""
        )
        fingerprint = credential.fingerprint_sha256.upper()
        credential.fingerprint_display = " ".join(
            fingerprint[i : i + 4] for i in range(0, len(fingerprint), 4)
        )
    return render(
        request,
        "signing/index.html",
        {
            "credentials": credentials,
            "tokens": selectors.live_tokens_of(request.user),
            "credential_form": credential_form or CredentialRequestForm(),
            "token_form": token_form or TokenForm(),
            "new_token": new_token,
            "csc_url": request.build_absolute_uri("/csc/v2/"),
            "external": providers.is_external(),
            "service_url": links.service_url(),
            "link": links.live_link(request.user) if providers.is_external() else None,
            "link_method": links.link_method(),
            "link_form": link_form or ProviderTokenForm(),
            "link_error": link_error,
        },
        status=status,
    )


@login_required
def index(request):
    return _page(request)


@login_required
@require_POST
@require_fresh_verification
def request_credential(request):
    form = CredentialRequestForm(request.POST)
    if not form.is_valid():
        return _page(request, credential_form=form, status=400)
    services.create_credential(
        actor=request.user, user=request.user, label=form.cleaned_data["label"], source=SOURCE
    )
    messages.success(
        request,
        _(
            "A signing key was made on the node. It can sign once a certification "
            "authority has issued its certificate."
        ),
    )
    return redirect("signing:index")


@login_required
@require_POST
@require_fresh_verification
def issue_token(request):
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _page(request, token_form=form, status=400)
    raw, _token = tokens.issue_access_token(
        user=request.user, client_name=form.cleaned_data["client_name"], source=SOURCE
    )
    # Shown once, in this answer only: the node keeps its hash.
    return _page(request, new_token=raw)


@login_required
@require_POST
def revoke_token(request, pk: int):
    token = get_object_or_404(AccessToken, pk=pk, user=request.user)
    tokens.revoke_access_token(actor=request.user, token=token, source=SOURCE)
    messages.success(request, _("The token was revoked."))
    return redirect("signing:index")


# --- The user's account at the external signing service (LIENTHONG_SIGNING_PROVIDER=csc) ---


def _external_only(request):
    if not providers.is_external():
        return redirect("signing:index")
    return None


@login_required
@require_POST
@require_fresh_verification
def link_token(request):
    """Link with a token the service gave the user (``LIENTHONG_SIGNING_CSC_LINK=token``)."""
    if (away := _external_only(request)) is not None:
        return away
    form = ProviderTokenForm(request.POST)
    if links.link_method() != "token" or not form.is_valid():
        return _page(request, link_form=form, status=400)
    try:
        links.link_with_token(user=request.user, token=form.cleaned_data["token"], source=SOURCE)
    except SigningRefused as exc:
        return _page(request, link_error=_message(exc), status=exc.status)
    messages.success(request, _("Your account at the signing service is linked."))
    return redirect("signing:index")


@login_required
@require_POST
@require_fresh_verification
def link_start(request):
    """Send the user to sign in at the service (``LIENTHONG_SIGNING_CSC_LINK=oauth2``)."""
    if (away := _external_only(request)) is not None:
        return away
    if links.link_method() != "oauth2":
        return redirect("signing:index")
    try:
        url, kept = links.start_oauth(
            redirect_uri=request.build_absolute_uri(reverse("signing:link-callback"))
        )
    except SigningRefused as exc:
        return _page(request, link_error=_message(exc), status=exc.status)
    request.session[OAUTH_SESSION_KEY] = kept
    return redirect(url)


@login_required
@require_GET
def link_callback(request):
    """The service sends the user back here with ``code`` and ``state`` (or ``error``)."""
    if (away := _external_only(request)) is not None:
        return away
    kept = request.session.pop(OAUTH_SESSION_KEY, None)  # once
    try:
        links.finish_oauth(
            user=request.user,
            kept=kept,
            state=request.GET.get("state", ""),
            code=request.GET.get("code", ""),
            error=request.GET.get("error", ""),
            source=SOURCE,
        )
    except SigningRefused as exc:
        return _page(request, link_error=_message(exc), status=exc.status)
    messages.success(request, _("Your account at the signing service is linked."))
    return redirect("signing:index")


@login_required
@require_POST
def unlink(request):
    if links.unlink(user=request.user, source=SOURCE):
        messages.success(request, _("Your account at the signing service is no longer linked."))
    return redirect("signing:index")


# --- Authorising one signature at the external service (CSC oauth2code) ---------------


def _own_page(request, url: str | None) -> str:
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return reverse("signing:index")


@login_required
@require_GET
def authorize_callback(request):
    """The service sends the user back here with ``code`` and ``state`` (or ``error``)
    once they authorised a signature's hashes there; on to the page that finishes
    the signature, or back to where it was asked with the refusal."""
    if (away := _external_only(request)) is not None:
        return away
    state = request.GET.get("state", "")
    kept = oauth2code.take(request.session, state)  # once
    try:
        oauth2code.finish(
            user=request.user,
            kept=kept,
            state=state,
            code=request.GET.get("code", ""),
            error=request.GET.get("error", ""),
            source=SOURCE,
        )
    except SigningRefused as exc:
        messages.error(request, _message(exc))
        return redirect(_own_page(request, (kept or {}).get("back_url")))
    return redirect(_own_page(request, kept["wait_url"]))
