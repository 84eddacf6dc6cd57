"""The one state machine of a dossier: which status may follow which, and who may move it.

===================  =======================  ========================  ==========================
from                 to                       who                       service
===================  =======================  ========================  ==========================
1 new                2 accepted               one-stop officer          ``accept``
1 new                3 rejected               one-stop officer          ``reject`` (reason)
1 new                5 supplement requested   one-stop officer          ``request_supplement``
1 new                7 withdrawn              applicant                 ``withdraw``
2 accepted           4 processing             specialist                ``process``
2 accepted           7 withdrawn              applicant                 ``withdraw``
4 processing         5 supplement requested   specialist                ``request_supplement``
4 processing         6 payment requested      specialist                ``request_payment``
4 processing         9 done                   leader                    ``approve``
4 processing         8 stopped                leader                    ``stop`` (reason)
5 supplement req.    1 new / 4 processing     applicant, one-stop off.  ``answer_supplement``
5 supplement req.    8 stopped                leader                    ``stop`` (reason)
6 payment requested  4 processing             payment backend,          ``record_payment``
                                             one-stop officer          (``confirm_payment``)
9 done               10 result returned       one-stop officer          ``return_result``
===================  =======================  ========================  ==========================

Withdrawal: the applicant may withdraw while the dossier is new or accepted and
no specialist has started on it; once processing started, the agency has spent
work on it and only a leader may stop it. An answered supplement request sends
the dossier back to where it was asked (new at intake, processing otherwise).
3 rejected, 7 withdrawn, 8 stopped and 10 result returned are final.

Payment: a specialist asks for the procedure's fee (or an amount, with the
reason); the dossier goes back to processing once it is paid, and only then: a
payment backend's verified confirmation (``payments.confirm``, acting as
``payment:<backend>``) or a one-stop officer who took the money at the counter
(``confirm_payment``). The applicant pays; she does not move the dossier herself.

Officers act for the agency that holds the dossier now (``current_agency``). A
citizen's dossier routed from here to a first step's agency on another node is
*held elsewhere*: that node's state machine decides it, and here nobody acts on
the copy (the applicant's withdrawal becomes a request sent there, see
``interconnection.request_withdrawal``). On that node, the originating agency's
exchange identity speaks for the applicant of the step's dossier.
"""

from __future__ import annotations

from typing import Any

from lienthong.dossiers.errors import DossierConflict, IllegalTransition
from lienthong.dossiers.models import Status
from lienthong.identity.models import OfficerRole, Role

APPLICANT = "applicant"
# A payment backend's verified confirmation (the actor ``payment:<backend>``).
PAYMENT = "payment"
PAYMENT_PREFIX = "payment:"

# (from, to) -> who may make that move.
TRANSITIONS: dict[tuple[Status, Status], frozenset[str]] = {
    (Status.NEW, Status.ACCEPTED): frozenset({Role.ONE_STOP_OFFICER}),
    (Status.NEW, Status.REJECTED): frozenset({Role.ONE_STOP_OFFICER}),
    (Status.NEW, Status.SUPPLEMENT_REQUESTED): frozenset({Role.ONE_STOP_OFFICER}),
    (Status.NEW, Status.WITHDRAWN): frozenset({APPLICANT}),
    (Status.ACCEPTED, Status.PROCESSING): frozenset({Role.SPECIALIST}),
    (Status.ACCEPTED, Status.WITHDRAWN): frozenset({APPLICANT}),
    (Status.PROCESSING, Status.SUPPLEMENT_REQUESTED): frozenset({Role.SPECIALIST}),
    (Status.PROCESSING, Status.PAYMENT_REQUESTED): frozenset({Role.SPECIALIST}),
    (Status.PROCESSING, Status.DONE): frozenset({Role.LEADER}),
    (Status.PROCESSING, Status.STOPPED): frozenset({Role.LEADER}),
    (Status.SUPPLEMENT_REQUESTED, Status.NEW): frozenset({APPLICANT, Role.ONE_STOP_OFFICER}),
    (Status.SUPPLEMENT_REQUESTED, Status.PROCESSING): frozenset({APPLICANT, Role.ONE_STOP_OFFICER}),
    (Status.SUPPLEMENT_REQUESTED, Status.STOPPED): frozenset({Role.LEADER}),
    (Status.PAYMENT_REQUESTED, Status.PROCESSING): frozenset({PAYMENT, Role.ONE_STOP_OFFICER}),
    (Status.DONE, Status.RESULT_RETURNED): frozenset({Role.ONE_STOP_OFFICER}),
}

# Moves that must say why (the citizen reads it on the timeline).
REASON_REQUIRED = frozenset(
    {Status.REJECTED, Status.STOPPED, Status.SUPPLEMENT_REQUESTED, Status.PAYMENT_REQUESTED}
)

# The event's action name for each target status.
ACTIONS = {
    Status.NEW: "resubmitted",
    Status.ACCEPTED: "accepted",
    Status.REJECTED: "rejected",
    Status.PROCESSING: "processing",
    Status.SUPPLEMENT_REQUESTED: "supplement_requested",
    Status.PAYMENT_REQUESTED: "payment_requested",
    Status.WITHDRAWN: "withdrawn",
    Status.STOPPED: "stopped",
    Status.DONE: "done",
    Status.RESULT_RETURNED: "result_returned",
}


def allowed_roles(status_from: int, status_to: int) -> frozenset[str]:
    """Who may move a dossier from ``status_from`` to ``status_to`` (empty: nobody)."""
    return TRANSITIONS.get((Status(status_from), Status(status_to)), frozenset())


def next_statuses(status: int) -> list[Status]:
    """The statuses a dossier in ``status`` may move to (for any actor)."""
    return [to for (source, to) in TRANSITIONS if source == status]


def is_final(status: int) -> bool:
    return not next_statuses(status)


def held_elsewhere(dossier: Any) -> bool:
    """The citizen's dossier was routed from here to its first step's agency on another
    node (``interconnection.route``), which holds it now: here it is a copy that
    follows what that agency reports. Every dossier held here was received by the
    agency holding it."""
    return not dossier.origin_code and dossier.current_agency_id != dossier.receiving_agency_id


def relayed_by(dossier: Any) -> str:
    """The actor that relays the applicant's requests for a step's dossier received
    from another node (the originating agency's exchange identity); empty otherwise."""
    return f"exchange:{dossier.origin_member}" if dossier.origin_member else ""


def paid_through(backend: str) -> str:
    """The actor of a move a payment backend's verified confirmation makes."""
    return PAYMENT_PREFIX + backend


def capacities(actor: Any, dossier: Any) -> set[str]:
    """In which capacities ``actor`` may act on ``dossier``: ``applicant`` when it is
    their dossier, and each officer role they hold in the agency holding it.

    Nobody acts here on a dossier held elsewhere. For a step's dossier received from
    another node, its originating agency (an ``exchange:…`` actor, the envelope's
    verified sender) acts as the applicant: the applicant has no account here. A
    payment backend (``payment:<backend>``, only ever passed by ``payments.confirm``
    after it verified the backend's confirmation) confirms a payment."""
    found: set[str] = set()
    if held_elsewhere(dossier):
        return found
    if isinstance(actor, str):
        if actor and actor == relayed_by(dossier):
            found.add(APPLICANT)
        if actor.startswith(PAYMENT_PREFIX) and len(actor) > len(PAYMENT_PREFIX):
            found.add(PAYMENT)
        return found
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.is_active:
        return found
    if dossier.applicant_id is not None and dossier.applicant_id == actor.pk:
        found.add(APPLICANT)
    found.update(
        OfficerRole.objects.filter(user=actor, agency_id=dossier.current_agency_id).values_list(
            "role", flat=True
        )
    )
    return found


def check(*, actor: Any, dossier: Any, to: int, reason: str = "") -> None:
    """Raise DossierConflict unless ``actor`` may move ``dossier`` to ``to`` now."""
    roles = allowed_roles(dossier.status, to)
    if not roles:
        raise IllegalTransition("illegal_transition", status_from=dossier.status, status_to=to)
    if not roles & capacities(actor, dossier):
        raise DossierConflict("not_allowed", status_from=dossier.status, status_to=to)
    if to in REASON_REQUIRED and not reason.strip():
        raise DossierConflict("reason_required", status_from=dossier.status, status_to=to)
