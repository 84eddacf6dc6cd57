"""The address picker's list of communes, for htmx: choosing a province on an
address (``dossiers.forms.add_address``) replaces the commune list with that
province's communes (without JavaScript, the form's own button does the same).
One endpoint for every form that picks an address: the citizen's dossier form,
and the back office's counter intake (the applicant's address and the
procedure's). Like every /dossiers/ page but the look-up, for the signed-in, any
of them (citizens and officers alike); it answers public directory names only,
nothing of anyone's dossier or account."""

from __future__ import annotations

import re

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from lienthong.dossiers.forms import COMMUNE, PROVINCE, communes_of

# A commune input's name: an address field's key, perhaps with a form prefix.
_NAME = re.compile(r"[A-Za-z0-9_-]{1,120}")


@login_required
@require_GET
def communes(request: HttpRequest) -> HttpResponse:
    """The ``<select>`` of the communes of the province the form names, in place of
    the commune input ``commune`` (its name), as the form renders it."""
    name = request.GET.get("commune", "")
    if not _NAME.fullmatch(name) or not name.endswith(COMMUNE):
        raise Http404
    province = request.GET.get(name.removesuffix(COMMUNE) + PROVINCE, "")
    widget = forms.Select(choices=communes_of(province))
    return HttpResponse(widget.render(name, "", attrs={"id": f"id_{name}"}))
