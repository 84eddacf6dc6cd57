"""``{% load backoffice %}``: whether the signed-in user gets the back office link."""

from __future__ import annotations

from typing import Any

from django import template

from lienthong.backoffice import selectors

register = template.Library()


@register.filter
def is_officer(user: Any) -> bool:
    """True when ``user`` holds an officer role in some agency. The user's roles are
    read once per request (``identity.permissions.held``), for this and every
    other check of the page."""
    if not getattr(user, "is_authenticated", False):
        return False
    return selectors.is_officer(user)
