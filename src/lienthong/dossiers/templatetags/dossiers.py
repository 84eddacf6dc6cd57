"""``{% load dossiers %}``: what the dossier lists show on every row, cheaply.

A list page shows twenty rows, each with a status and two times. Django's
``get_status_display`` rebuilds the whole choices mapping on every call
(translating all ten labels), and the ``date`` filter reads the format
machinery per value; these filters give the same text for a fraction of it.
"""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone

from lienthong.dossiers.money import format_vnd
from lienthong.dossiers.selectors import status_labels

register = template.Library()


@register.filter
def status_label(value: int | None) -> str:
    """The national status's label in the active language ("" for none)."""
    if value is None or value == "":
        return ""
    return status_labels().get(int(value), str(value))


@register.filter
def local_datetime(value: dt.datetime | None) -> str:
    """dd/mm/yyyy HH:MM in the current time zone, as ``date:"d/m/Y H:i"`` writes it."""
    if not value:
        return ""
    return timezone.localtime(value).strftime("%d/%m/%Y %H:%M")


@register.filter
def local_date(value: dt.datetime | None) -> str:
    """dd/mm/yyyy in the current time zone, as ``date:"d/m/Y"`` writes it."""
    if not value:
        return ""
    return timezone.localtime(value).strftime("%d/%m/%Y")


@register.filter
def vnd(value: int | None) -> str:
    """An amount of đồng with the Vietnamese thousands separator: 150000 -> 150.000."""
    if value is None or value == "":
        return ""
    return format_vnd(value)
