"""Template filters of the catalogue pages."""

from django import template
from django.utils import translation

register = template.Library()


@register.filter
def grouped(amount: int) -> str:
    """An amount of đồng with its thousands grouped as readers expect: 20.000 in
    Vietnamese, 20,000 in English (Django's Vietnamese formats do not group)."""
    text = f"{amount:,}"
    if (translation.get_language() or "vi").startswith("vi"):
        return text.replace(",", ".")
    return text
