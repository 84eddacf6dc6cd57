"""Who may act for which agency: the one place that answers it.

Every view and API that shows or changes an agency's data asks here. What a
user may not see does not exist for them: a forbidden agency gets the same
404 as an absent one, so nobody learns which agencies or objects exist by
probing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.db.models import QuerySet
from django.http import Http404

from lienthong.directory.models import Agency
from lienthong.errors import ApiError
from lienthong.identity.models import OfficerRole


def _roles(role: str | Iterable[str] | None) -> list[str] | None:
    if role is None:
        return None
    return [role] if isinstance(role, str) else list(role)


_HELD = "_lienthong_roles_held"


def held(user: Any) -> frozenset[tuple[int, str]]:
    """Every (agency id, role) ``user`` holds, read once per user object.

    A request's user is loaded anew for each request, so the checks of one page
    (the agency in its address, the queue, the menu, what the page offers) cost
    one query between them; a grant or a revocation counts from the user's next
    request, or at once for the object ``forget`` is given."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    roles = user.__dict__.get(_HELD)
    if roles is None:
        roles = frozenset(OfficerRole.objects.filter(user=user).values_list("agency_id", "role"))
        user.__dict__[_HELD] = roles
    return roles


def forget(user: Any) -> None:
    """Make the next check about ``user`` (this object) read their roles again."""
    if user is not None:
        user.__dict__.pop(_HELD, None)


def _agency_ids(user: Any, role: str | Iterable[str] | None) -> set[int]:
    roles = _roles(role)
    return {agency for agency, held_role in held(user) if roles is None or held_role in roles}


def _grants(user: Any, role: str | Iterable[str] | None) -> QuerySet[OfficerRole]:
    if user is None or not user.is_authenticated or not user.is_active:
        return OfficerRole.objects.none()
    grants = OfficerRole.objects.filter(user=user)
    roles = _roles(role)
    return grants if roles is None else grants.filter(role__in=roles)


def agencies_for(user: Any, role: str | Iterable[str] | None = None) -> QuerySet[Agency]:
    """The agencies in which ``user`` holds ``role`` (any of them; any role when None)."""
    return Agency.objects.filter(pk__in=_grants(user, role).values("agency_id")).order_by(
        "identifier"
    )


def has_role(user: Any, agency: Agency | int, role: str | Iterable[str] | None = None) -> bool:
    agency_id = agency.pk if isinstance(agency, Agency) else agency
    return agency_id in _agency_ids(user, role)


def scope(
    queryset: QuerySet, user: Any, role: str | Iterable[str] | None = None, *, via: str = "agency"
) -> QuerySet:
    """``queryset`` narrowed to rows whose ``via`` agency the user holds ``role`` in."""
    return queryset.filter(**{f"{via}__in": agencies_for(user, role)})


def agency_or_404(user: Any, identifier: str, role: str | Iterable[str] | None = None) -> Agency:
    """The agency, if the user holds the role there; Http404 otherwise, absent or not."""
    agency = _held_agency(user, identifier, role)
    if agency is None:
        raise Http404
    return agency


def _held_agency(user: Any, identifier: str, role: str | Iterable[str] | None) -> Agency | None:
    ids = _agency_ids(user, role)
    return Agency.objects.filter(pk__in=ids, identifier=identifier).first() if ids else None


def require_role(
    role: str | Iterable[str], *, agency_kwarg: str = "agency"
) -> Callable[[Callable], Callable]:
    """View decorator: the URL's ``agency_kwarg`` (an agency identifier) must be one
    where the signed-in user holds ``role``. The view receives the Agency object.

    Anonymous users go to the sign-in page; everyone else without the role gets
    the 404 an unknown agency gets.
    """

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            kwargs[agency_kwarg] = agency_or_404(request.user, kwargs[agency_kwarg], role)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def api_agency_or_404(
    request: Any, identifier: str, role: str | Iterable[str] | None = None
) -> Agency:
    """For django-ninja operations: the agency, or the API's 404 (absent or forbidden)."""
    agency = _held_agency(request.user, identifier, role)
    if agency is None:
        raise ApiError(
            status=404,
            code="agency_not_found",
            message_vi="Không tìm thấy cơ quan.",
            message_en="No such agency.",
        )
    return agency
