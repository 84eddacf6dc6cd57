"""Reads for the citizen's pages, always within the citizen's own dossiers."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from django.db.models import Q, QuerySet

from lienthong.catalog import selectors as catalog
from lienthong.catalog.models import InterconnectedProcedure, InterconnectedStep, Procedure
from lienthong.catalog.statuses import status_text
from lienthong.directory.models import AdministrativeUnit, Agency, UnitLevel
from lienthong.dossiers import selectors as dossiers
from lienthong.dossiers import workflow
from lienthong.dossiers.models import Attachment, Dossier, Status, SupplementRequest
from lienthong.identity.models import Role
from lienthong.identity.permissions import agencies_for
from lienthong.portal import ratings
from lienthong.portal.models import DeclarationSignature, Rating


def own_dossier(user: Any, code: str) -> Dossier | None:
    """The dossier ``user`` is the applicant of; None when absent or someone else's alike.

    The portal is the applicant's page: an officer who may see the dossier in
    the back office does not see it here."""
    return (
        dossiers.my_dossiers(user)
        .select_related("receiving_agency", "step", "interconnected", "result")
        .filter(code=code)
        .first()
    )


# --- The status the citizen reads ------------------------------------------------------------

# What the citizen's list reads of each dossier besides the list's columns: what tells
# a dossier held elsewhere and what its holder reported (no query per row).
MINE_FIELDS = ("current_agency_id", "receiving_agency_id", "origin_code", "remote_status")


def my_dossiers_listed(page: QuerySet[Dossier]) -> QuerySet[dict]:
    """A page of the citizen's dossiers (``dossiers.my_dossiers``) as her list shows
    them (``dossiers.row_values``, plus ``MINE_FIELDS``): one query, no model
    instance per row."""
    return dossiers.row_values(page, *MINE_FIELDS)


def listed_shown_status(row: dict) -> int:
    """``shown_status`` of a row of ``my_dossiers_listed``."""
    return shown_status(SimpleNamespace(**row))


def shown_status(dossier: Dossier) -> int:
    """The status the citizen reads for ``dossier``: its own; for one routed to another
    node's agency (``workflow.held_elsewhere``, its own status stays "new") the status
    the agency holding it last reported (``remote_status``), new until it reports."""
    if workflow.held_elsewhere(dossier):
        return int(dossier.remote_status or Status.NEW)
    return int(dossier.status)


def shown_status_text(dossier: Dossier) -> str:
    """The wording of ``shown_status``: the procedure's (for a dossier held elsewhere,
    that of the step its holder reported on), else the national one."""
    procedure = dossier.procedure
    if workflow.held_elsewhere(dossier) and dossier.step_id:
        procedure = dossier.step.procedure
    return status_text(shown_status(dossier), procedure.status_texts)


def open_supplement_request(dossier: Dossier) -> SupplementRequest | None:
    return dossier.supplement_requests.filter(answered_at__isnull=True).first()


def attachments(dossier: Dossier) -> QuerySet[Attachment]:
    return dossier.attachments.select_related("document").order_by("uploaded_at", "id")


def procedure(code: str) -> Procedure | None:
    return catalog.procedure_by_code(code)


def handling_agencies(procedure: Procedure) -> QuerySet[Agency]:
    return catalog.handling_agencies(procedure)


def province_of(agency: Agency) -> AdministrativeUnit | None:
    unit = agency.unit
    if unit is None:
        return None
    return unit if unit.level == UnitLevel.PROVINCE else unit.parent


def provinces_of(agencies: QuerySet[Agency]) -> QuerySet[AdministrativeUnit]:
    """The provinces where ``agencies`` are (their own unit, or its parent)."""
    return (
        AdministrativeUnit.objects.current()
        .filter(level=UnitLevel.PROVINCE)
        .filter(Q(pk__in=agencies.values("unit__parent")) | Q(pk__in=agencies.values("unit")))
        .order_by("name")
    )


def agencies_in(agencies: QuerySet[Agency], province_code: str) -> QuerySet[Agency]:
    return (
        agencies.filter(unit__parent__code=province_code)
        | agencies.filter(unit__code=province_code)
    ).order_by("name")


# --- Results, ratings, interconnected procedures --------------------------------------------


def rating_of(user: Any, dossier: Dossier) -> Rating | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return Rating.objects.filter(dossier=dossier, citizen=user).first()


def interconnected_groups() -> QuerySet[InterconnectedProcedure]:
    """The interconnected procedures a citizen may start from the portal (their code
    and name: what "my dossiers" lists of them)."""
    return (
        InterconnectedProcedure.objects.filter(is_active=True)
        .only("code", "name", "name_en")
        .order_by("code")
    )


def interconnected_group(code: str) -> InterconnectedProcedure | None:
    return catalog.interconnected_by_code(code)


def first_step(group: InterconnectedProcedure) -> InterconnectedStep | None:
    return group.steps.select_related("procedure").order_by("position").first()


@dataclass(frozen=True)
class StepRow:
    """One step of the citizen's interconnected dossier as the dossier page shows it."""

    position: int
    procedure: Procedure
    agency: Agency | None
    status: int | None
    is_current: bool

    @property
    def status_label(self) -> str:
        return Status(self.status).label if self.status is not None else ""


def interconnected_steps(dossier: Dossier) -> list[StepRow]:
    """Each step of ``dossier``'s interconnected procedure: which agency holds it and its
    status. The first step is this dossier itself, unless the portal routed it to its
    agency on another node: then it is known as a later step is. A later step is known
    from what its agency reported (``dossier.handoff`` names the agency, ``dossier.status`` the status:
    the events ``handed_off`` and ``step_status`` of the timeline); a step not reached
    yet has neither."""
    if not dossier.interconnected_id:
        return []
    steps = list(dossier.interconnected.steps.select_related("procedure").order_by("position"))
    known: dict[int, tuple[Agency | None, int | None]] = {}
    events = dossier.events.filter(action__in=("handed_off", "step_status")).select_related(
        "agency"
    )
    for event in events.order_by("at", "id"):
        if event.step is None:
            continue
        agency, status = known.get(event.step, (None, None))
        if event.action == "handed_off":
            known[event.step] = (event.agency or agency, status)
        else:
            known[event.step] = (event.agency or agency, event.status_to)
    current = dossier.step.position if dossier.step_id else None
    rows = []
    for index, step in enumerate(steps):
        if index == 0 and step.position not in known:
            agency, status = dossier.receiving_agency, dossier.status
        else:
            agency, status = known.get(step.position, (None, None))
        rows.append(
            StepRow(
                position=step.position,
                procedure=step.procedure,
                agency=agency,
                status=status,
                is_current=step.position == current,
            )
        )
    return rows


RATING_READERS = (Role.LEADER, Role.AGENCY_ADMIN, Role.ASSESSOR)


def rating_agencies(user: Any) -> QuerySet[Agency]:
    """The agencies whose ratings ``user`` may read (leaders, administrators, assessors)."""
    return agencies_for(user, RATING_READERS)


@dataclass(frozen=True)
class RatingSummary:
    count: int
    average_percent: int | None
    # (question, average points 0-2, percent) in the questionnaire's order.
    questions: list[tuple[ratings.Question, float, int]]
    # For the overall question: how many answered each level.
    overall: list[tuple[str, int]]
    recent: list[Rating]


def agency_ratings(agency: Agency, *, recent: int = 20) -> RatingSummary:
    """What the citizens said of ``agency``: averages per question, the overall split,
    the latest comments. Computed in Python over the agency's ratings' answers
    (JSON): a few thousand rows a year for a commune."""
    rows = list(Rating.objects.filter(agency=agency).values_list("answers", "score").order_by())
    count = len(rows)
    questions = []
    for question in ratings.QUESTIONS:
        values = [int(a.get(question.key, 0)) for a, _ in rows]
        average = sum(values) / count if count else 0.0
        questions.append(
            (question, round(average, 2), round(100 * average / ratings.VERY_SATISFIED))
        )
    overall = [
        (label, sum(1 for a, _ in rows if int(a.get("overall", -1)) == value))
        for value, label in ratings.SCALE
    ]
    average_percent = (
        round(100 * sum(s for _, s in rows) / (count * ratings.MAX_SCORE)) if count else None
    )
    latest = list(
        Rating.objects.filter(agency=agency)
        .select_related("dossier", "dossier__procedure")
        .order_by("-created_at", "-id")[:recent]
    )
    return RatingSummary(count, average_percent, questions, overall, latest)


def declaration_signature(dossier: Dossier) -> DeclarationSignature | None:
    return DeclarationSignature.objects.filter(dossier=dossier).select_related("attachment").first()


def signing_credentials(user: Any) -> list:
    """The user's signing keys ready to sign (lienthong.signing: this node's, or the
    external signing service's for the user's linked account; none when that fails)."""
    from lienthong.signing import providers
    from lienthong.signing.errors import SigningRefused

    try:
        return providers.usable_credentials(user)
    except SigningRefused:
        return []
