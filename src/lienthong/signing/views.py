"""/account/signing/: the user's signing keys (remote signing) and the applications' tokens.

Thin views over lienthong.signing.services. Nothing here signs: signing
happens where a document is (the dossiers, the back office) or through the
CSC API, each time with the user's one-time code or phone approval.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from lienthong.identity.sessions import SOURCE, require_fresh_verification
from lienthong.signing import keys, selectors, services, tokens
from lienthong.signing.forms import CredentialRequestForm, TokenForm
from lienthong.signing.models import AccessToken, CredentialStatus


def _page(request, *, credential_form=None, token_form=None, new_token=None, status=200):
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
