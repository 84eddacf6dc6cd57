"""Who this node is: its identifier, name, role and the agencies it hosts.

A node's identity comes from configuration (LIENTHONG_NODE_*), not from the
database: the directory describes every node of the country, but which one of
them *this* process is must be decided by the operator who starts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import gettext_lazy as _

NODE_ROLES = {
    "central": _("Central node (national portal and directory)"),
    "provincial": _("Provincial node"),
    "sector": _("Sector (ministry) node"),
}


@dataclass(frozen=True)
class NodeIdentity:
    identifier: str
    name: str
    role: str
    agency_identifiers: tuple[str, ...] = field(default_factory=tuple)

    @property
    def role_label(self) -> str:
        return str(NODE_ROLES.get(self.role, self.role))

    def hosted_agencies(self):
        """The configured agencies, in configured order; without configuration, the
        agencies the directory lists as hosted by this node."""
        from lienthong.directory.models import Agency

        if not self.agency_identifiers:
            return list(
                Agency.objects.filter(node__identifier=self.identifier).order_by("identifier")
            )
        found = {
            a.identifier: a for a in Agency.objects.filter(identifier__in=self.agency_identifiers)
        }
        return [found[code] for code in self.agency_identifiers if code in found]


def this_node() -> NodeIdentity:
    return NodeIdentity(
        identifier=settings.NODE_IDENTIFIER,
        name=settings.NODE_NAME,
        role=settings.NODE_ROLE,
        agency_identifiers=tuple(settings.NODE_AGENCIES),
    )
