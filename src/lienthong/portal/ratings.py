"""The satisfaction questionnaire a citizen answers once their result is back.

PROVISIONAL WORDING. Vietnam measures how satisfied people are with the
handling of their procedures (the "mức độ hài lòng" part of the service-quality
index of Decision 766/QĐ-TTg, 2022; the evaluation of procedure handling in
Decree 61/2018/NĐ-CP and Circular 01/2018/TT-VPCP). The official wording of the
national form could not be checked while this was written. Questions 1-9
follow the nine evaluation criteria that one-stop systems show for these texts
(total time against the legal limit, time taken by each agency, how many times
and how many agencies the applicant had to contact, handling at the one-stop
desk, publicity of the procedure, officers' attitude, answers to feedback,
quality of the online service), in our own neutral words; questions 10 and 11
(ease of use, overall satisfaction) are this project's additions. Check them
against the official text before a deployment relies on the figures; the keys
stay stable, so rewording does not disturb stored answers.

Every question has the same three-level answer, scored 2 / 1 / 0 (very
satisfied / satisfied / not satisfied), so a rating totals 0-22 points and an
agency's figure is a plain average.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

PROVISIONAL = True
VERY_SATISFIED, SATISFIED, NOT_SATISFIED = 2, 1, 0
SCALE = (
    (VERY_SATISFIED, _("Very satisfied")),
    (SATISFIED, _("Satisfied")),
    (NOT_SATISFIED, _("Not satisfied")),
)


@dataclass(frozen=True)
class Question:
    key: str
    text: Promise
    # True for the questions this project added beyond the nine criteria.
    added: bool = False


QUESTIONS: tuple[Question, ...] = (
    Question("total_time", _("The total time taken to settle your procedure, compared with the time limit the law sets")),
    Question("agency_time", _("The time each agency involved (including the agencies that helped) took for its part")),
    Question("contacts", _("How many times you had to contact the receiving desk to complete your dossier (online contacts included)")),
    Question("agencies", _("How many agencies or organisations you had to contact to complete your dossier")),
    Question("one_stop", _("How the one-stop desk received your dossier, handled it and returned the result")),
    Question("publicity", _("How clearly the procedure (documents, fees, time limit) was made public")),
    Question("attitude", _("The attitude of the officers who guided you, received your dossier and handled it")),
    Question("feedback", _("How your comments or complaints, if any, were received and answered")),
    Question("online", _("The progress and quality of the online public service of the agency")),
    Question("ease", _("How easy this portal was to use, from submission to result"), added=True),
    Question("overall", _("Overall, how satisfied are you with the handling of your dossier?"), added=True),
)  # fmt: skip
KEYS = tuple(q.key for q in QUESTIONS)
MAX_SCORE = VERY_SATISFIED * len(QUESTIONS)


def score(answers: dict[str, int]) -> int:
    """The rating's total points (0 to ``MAX_SCORE``)."""
    return sum(int(answers[key]) for key in KEYS)
