"""Property-based tests of the envelope: parsing, canonical form, identifiers."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from lienthong.exchange import envelope as envelopes


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


AGENCY = st.from_regex(r"[0-9A-Z]{1,3}(\.[0-9A-Z]{1,3}){0,3}", fullmatch=True)
SUBSYSTEM = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)
MEMBER = st.builds(lambda a, s: f"VN:GOV:{a}:{s}", AGENCY, SUBSYSTEM)
JSON_VALUE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
PAYLOAD = st.dictionaries(st.text(max_size=8).filter(_utf8), JSON_VALUE, max_size=5)
MOMENT = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)
ATTACHMENT = st.fixed_dictionaries(
    {
        "sha256": st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
        "size": st.integers(min_value=0, max_value=2**40),
        "media_type": st.sampled_from(["application/pdf", "image/jpeg", "application/xml"]),
        "name": st.text(
            alphabet=st.characters(blacklist_characters="/\\\0", blacklist_categories=("Cs",)),
            max_size=30,
        ),
    }
)


@settings(max_examples=100, deadline=None)
@given(
    sender=MEMBER,
    recipient=MEMBER,
    payload=PAYLOAD,
    moment=MOMENT,
    attachments=st.lists(ATTACHMENT, max_size=3),
    kind=st.from_regex(r"[a-z]{1,8}\.[a-z]{1,8}", fullmatch=True),
    correlation=st.from_regex(r"[0-9A-Za-z][0-9A-Za-z._:-]{0,30}", fullmatch=True),
)
def test_an_envelope_survives_its_canonical_form(
    sender, recipient, payload, moment, attachments, kind, correlation
):
    built = envelopes.new(
        type=kind,
        sender=sender,
        recipient=recipient,
        correlation_id=correlation,
        payload=payload,
        attachments=attachments,
        now=moment,
    )
    canonical = rfc8785.dumps(built.as_dict())
    again = envelopes.parse(json.loads(canonical))
    assert again.as_dict() == built.as_dict()
    assert rfc8785.dumps(again.as_dict()) == canonical
    # The id carries the creation millisecond — or a later one, never an earlier: ids
    # made in one millisecond count up and borrow the next one when the counter runs
    # out (hypothesis makes many envelopes at the same instant), and a clock that
    # steps back by less than the clamp keeps counting from the last id (hypothesis
    # also makes an earlier moment after a later one).
    lag = envelopes.uuid7_time(built.id) - moment.replace(
        microsecond=moment.microsecond // 1000 * 1000
    )
    assert dt.timedelta(0) <= lag < dt.timedelta(milliseconds=envelopes._MAX_CLAMP_MS + 1000)


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(st.sampled_from([*sorted(envelopes.MEMBERS), "x"]), JSON_VALUE))
def test_parse_refuses_anything_else_with_a_code(data):
    try:
        envelopes.parse(data)
    except envelopes.EnvelopeError as exc:
        assert exc.code
    # Whatever it accepted, it can write back as it read it.
    else:
        assert envelopes.parse(envelopes.parse(data).as_dict())


@given(st.lists(st.integers(min_value=1_600_000_000_000, max_value=1_600_000_000_010), min_size=2))
def test_uuid7_ids_only_increase_and_are_version_7(moments):
    ids = [envelopes.uuid7(ms) for ms in sorted(moments)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 7 for i in ids)


def test_times_have_one_spelling():
    moment = dt.datetime(2026, 11, 28, 20, 30, 0, 123456, tzinfo=dt.UTC)
    assert envelopes.format_time(moment) == "2026-11-28T20:30:00.123Z"
    for bad in ("2026-11-28T20:30:00+07:00", "2026-11-28 20:30:00Z", "yesterday", 5):
        try:
            envelopes.parse_time(bad)
        except envelopes.EnvelopeError as exc:
            assert exc.code == "invalid_time"
        else:
            raise AssertionError(bad)


def test_members_follow_the_national_platform():
    assert str(envelopes.Member.parse("VN:GOV:000.00.00.G12:dossiers")) == (
        "VN:GOV:000.00.00.G12:dossiers"
    )
    for bad in ("VN:COM:000.00.00.G12:x", "VN:GOV:000.00.00.g12:x", "VN:GOV::x", "VN:GOV:A:B"):
        try:
            envelopes.Member.parse(bad)
        except envelopes.EnvelopeError:
            continue
        raise AssertionError(bad)


def test_what_has_no_canonical_form_is_refused():
    """A lone surrogate (JSON allows the escape "\\ud800") has no UTF-8, so no RFC 8785 form."""
    good = envelopes.new(
        type="dossier.status",
        sender="VN:GOV:000.00.00.G12:dossiers",
        recipient="VN:GOV:000.00.00.G22:dossiers",
        correlation_id="X-1",
        payload={},
    ).as_dict()
    for changes, code in (
        ({"payload": {"note": "\ud800"}}, "invalid_payload"),
        ({"payload": {"n": float("nan")}}, "invalid_payload"),
        (
            {
                "attachments": [
                    {"sha256": "0" * 64, "size": 1, "media_type": "a/b", "name": "\udc00"}
                ]
            },
            "invalid_attachments",
        ),
    ):
        try:
            envelopes.parse({**good, **changes})
        except envelopes.EnvelopeError as exc:
            assert exc.code == code
        else:
            raise AssertionError(changes)
