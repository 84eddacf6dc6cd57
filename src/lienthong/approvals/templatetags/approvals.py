"""Template tags for showing a user's paired phones on other apps' pages (the account page)."""

from django import template

from lienthong.approvals import selectors

register = template.Library()


@register.simple_tag
def paired_phones(user):
    """The user's active paired phones (none for a visitor)."""
    if not getattr(user, "is_authenticated", False):
        return []
    return list(selectors.devices_of(user))
