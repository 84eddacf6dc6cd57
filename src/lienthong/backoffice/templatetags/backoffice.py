"""``{% load backoffice %}``: whether the signed-in user gets the back office link."""

from __future__ import annotations

from typing import Any

from django import template

from lienthong.backoffice import selectors

register = template.Library()


@register.filter
def is_officer(user: Any) -> bool:
    """True when ``user`` holds an officer role in some agency; asked once per request
    (the answer is kept on the user object the request carries)."""
    if not getattr(user, "is_authenticated", False):
        return False
    if not hasattr(user, "_backoffice_is_officer"):
        user._backoffice_is_officer = selectors.is_officer(user)
    return user._backoffice_is_officer
