"""``{% load portal_status %}``: the status the citizen reads, on every page alike.

A dossier routed from the portal's node to another node's agency keeps status
"new" here; the citizen reads the status that agency last reported
(``portal.selectors.shown_status``), on her dossier's page, in her list and in the
public look-up.
"""

from __future__ import annotations

from django import template

from lienthong.dossiers import payments, workflow
from lienthong.portal import selectors

register = template.Library()


@register.filter
def shown_status(dossier) -> int:
    return selectors.shown_status(dossier)


@register.filter
def shown_status_text(dossier) -> str:
    return selectors.shown_status_text(dossier)


@register.filter
def held_elsewhere(dossier) -> bool:
    return workflow.held_elsewhere(dossier)


@register.filter
def fee_asked(dossier, payment) -> bool:
    """The unpaid ``payment`` is still asked (``payments.asked_now``)."""
    return payments.asked_now(dossier, payment)
