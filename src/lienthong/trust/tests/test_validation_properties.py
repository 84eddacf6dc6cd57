"""Corrupted signed files: whatever the damage, a report — never an exception, never a pass.

A valid signed PDF, XML, CMS and JWS each has its *covered* bytes: those the
signature protects, where any change must be caught. Hypothesis flips,
inserts or deletes bytes there, or truncates the file there, and every
outcome must be a report with a known indication, known reason codes
(report.TEXTS), no internal error, and never TOTAL-PASSED.

Covered means covered: a change elsewhere may legitimately still pass (hex
padding inside a PDF's /Contents, whitespace outside the XML root element or
inside a start tag, the certificates a CMS carries, a non-canonical last
base64url character of a JWS signature), so mutations stay inside:

- PDF: the signed ByteRange, that is the whole file except the /Contents hex;
- XML: the text of the signed document's elements;
- CMS: the detached data, the signed attributes and the signature value;
- JWS: the protected header and the payload (the JWS signing input).

Each validation of a PDF, XML or CMS runs in a sandbox worker, so the example
counts are modest; revocation is not fetched (soft-fail, offline): the
property is about the bytes, not the network.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pytest
from asn1crypto import cms
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils.reader import PdfFileReader

from lienthong.trust import testpki
from lienthong.trust.tests.signatures import (
    CADES_DATA,
    XML,
    Signed,
    Signer,
    cades,
    jws_token,
    pades,
    xades,
)
from lienthong.trust.validation import engine, jws
from lienthong.trust.validation.engine import Policy
from lienthong.trust.validation.report import (
    FAILED_SUBINDICATIONS,
    INDETERMINATE_SUBINDICATIONS,
    TEXTS,
    Indication,
    ValidationReport,
)
from lienthong.trust.validation.service import validate_document

pytestmark = pytest.mark.django_db

POLICY = Policy(revocation_mode="soft-fail", allow_fetching=False)
EXAMPLES = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Specimen:
    """A signed file, and per part ("file", "detached") the byte ranges its signature covers."""

    signed: Signed
    covered: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    def part(self, name: str) -> bytes:
        return self.signed.data if name == "file" else self.signed.detached

    def with_part(self, name: str, value: bytes) -> Signed:
        if name == "file":
            return Signed(value, self.signed.filename, self.signed.detached)
        return Signed(self.signed.data, self.signed.filename, value)


def pdf_specimen(signed: Signed) -> Specimen:
    (embedded,) = PdfFileReader(io.BytesIO(signed.data)).embedded_signatures
    start1, length1, start2, length2 = (int(v) for v in embedded.byte_range)
    assert start1 == 0 and start2 + length2 == len(signed.data)
    return Specimen(signed, {"file": [(start1, start1 + length1), (start2, start2 + length2)]})


def xml_specimen(signed: Signed) -> Specimen:
    ranges = []
    for text in ("000.00.00.G12-261128-0001", "TEST Nguyễn Văn An", "150000"):
        needle = b">" + text.encode() + b"<"
        assert signed.data.count(needle) == 1
        start = signed.data.index(needle) + 1
        ranges.append((start, start + len(text.encode())))
    return Specimen(signed, {"file": ranges})


def cms_specimen(signed: Signed) -> Specimen:
    (signer_info,) = cms.ContentInfo.load(signed.data)["content"]["signer_infos"]
    ranges = []
    for covered in (signer_info["signed_attrs"].dump(), signer_info["signature"].contents):
        assert signed.data.count(covered) == 1
        start = signed.data.index(covered)
        ranges.append((start, start + len(covered)))
    return Specimen(signed, {"file": ranges, "detached": [(0, len(signed.detached))]})


def jws_specimen(signed: Signed) -> Specimen:
    signing_input = signed.data.rindex(b".")
    return Specimen(signed, {"file": [(0, signing_input)]})


@pytest.fixture(scope="session")
def specimens(test_pki) -> dict[str, Specimen]:
    """One valid signature per format, by personas of both hierarchies."""
    return {
        "PAdES": pdf_specimen(pades(Signer.from_pki(test_pki, "citizen"))),
        "XAdES": xml_specimen(xades(Signer.from_pki(test_pki, "officer"), XML)),
        "CAdES": cms_specimen(cades(Signer.from_pki(test_pki, "business"), CADES_DATA)),
        "JWS": jws_specimen(jws_token(Signer.from_pki(test_pki, "agency"))),
    }


@pytest.fixture
def trusted(db, test_pki):
    testpki.add_to_trust_list(test_pki, actor="test")
    jws.clear_caches()
    return test_pki


# --- Mutations ----------------------------------------------------------------------


@st.composite
def mutations(draw, specimen: Specimen):
    """(part, kind, position, argument): one change inside the covered bytes."""
    part = draw(st.sampled_from(sorted(specimen.covered)))
    ranges = specimen.covered[part]
    offset = draw(st.integers(0, sum(end - start for start, end in ranges) - 1))
    for start, end in ranges:
        if offset < end - start:
            position = start + offset
            break
        offset -= end - start
    kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
    if kind == "flip":
        argument = draw(st.integers(1, 255))  # XOR mask: the byte does change
    elif kind == "insert":
        argument = draw(st.binary(min_size=1, max_size=8))
    elif kind == "delete":
        argument = draw(st.integers(1, min(16, end - position)))
    else:
        argument = None
    return part, kind, position, argument


def mutated(data: bytes, kind: str, position: int, argument) -> bytes:
    if kind == "flip":
        return data[:position] + bytes([data[position] ^ argument]) + data[position + 1 :]
    if kind == "insert":
        return data[:position] + argument + data[position:]
    if kind == "delete":
        return data[:position] + data[position + argument :]
    return data[:position]


def check(report: ValidationReport) -> None:
    """A report anyone can read: known indication, known codes, consistent, no crash."""
    indications = {str(i) for i in Indication}
    subs = FAILED_SUBINDICATIONS | INDETERMINATE_SUBINDICATIONS
    for item in (report, *report.signatures):
        assert item.indication in indications
        assert item.indication in TEXTS
        if item.indication == Indication.TOTAL_PASSED:
            assert item.sub_indication is None
        else:
            assert item.sub_indication in subs and item.sub_indication in TEXTS
        for reason in item.reasons:
            assert reason.code in TEXTS, reason
            assert reason.code != "internal_error", reason.detail
    assert ValidationReport.from_dict(report.as_dict()) == report


def corrupted_never_passes(specimen: Specimen, change) -> None:
    part, kind, position, argument = change
    original = specimen.part(part)
    damaged = mutated(original, kind, position, argument)
    assert damaged != original

    report = validate_document(**specimen.with_part(part, damaged).kwargs(), policy=POLICY)

    check(report)
    assert report.indication != Indication.TOTAL_PASSED, (part, kind, position, argument)
    assert all(s.indication != Indication.TOTAL_PASSED for s in report.signatures)


# --- The properties -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PAdES", "XAdES", "CAdES", "JWS"])
def test_the_specimens_pass_unchanged(trusted, specimens, fmt):
    report = validate_document(**specimens[fmt].signed.kwargs(), policy=POLICY)
    check(report)
    assert report.indication == Indication.TOTAL_PASSED, report.signatures


@EXAMPLES
@given(data=st.data())
def test_a_corrupted_pdf_never_passes(trusted, specimens, data):
    specimen = specimens["PAdES"]
    corrupted_never_passes(specimen, data.draw(mutations(specimen)))


@EXAMPLES
@given(data=st.data())
def test_a_corrupted_xml_never_passes(trusted, specimens, data):
    specimen = specimens["XAdES"]
    corrupted_never_passes(specimen, data.draw(mutations(specimen)))


@EXAMPLES
@given(data=st.data())
def test_a_corrupted_cms_or_its_data_never_passes(trusted, specimens, data):
    specimen = specimens["CAdES"]
    corrupted_never_passes(specimen, data.draw(mutations(specimen)))


@EXAMPLES
@given(data=st.data())
def test_a_corrupted_jws_never_passes(trusted, specimens, data):
    specimen = specimens["JWS"]
    corrupted_never_passes(specimen, data.draw(mutations(specimen)))


@EXAMPLES
@given(
    garbage=st.binary(max_size=2048),
    head=st.sampled_from([b"", b"%PDF-1.7\n", b"0\x82", b"<", b"eyJhbGciOiJFUzI1NiJ9.", b"{"]),
)
def test_arbitrary_bytes_end_as_a_report(db, garbage, head):
    """Not even a signature: any bytes, under any plausible first bytes, give a readable report."""
    report = validate_document(data=head + garbage, filename="x.bin", policy=POLICY)
    check(report)
    assert report.indication != Indication.TOTAL_PASSED


# --- What the properties found, kept as fixed examples ------------------------------


def _replace_last(data: bytes, old: bytes, new: bytes) -> bytes:
    at = data.rindex(old)
    return data[:at] + new + data[at + len(old) :]


def _break_last_stream_checksum(data: bytes) -> bytes:
    """Flip the last byte of the last stream (the Adler-32 of its Flate data)."""
    at = data.rindex(b"endstream")
    while data[at - 1 : at] in (b"\n", b"\r"):
        at -= 1
    return data[: at - 1] + bytes([data[at - 1] ^ 0x01]) + data[at:]


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda d: _replace_last(d, b"/FlateDecode", b"/FlateDecoee"), id="filter"),
        pytest.param(lambda d: _replace_last(d, b"/XRef", b"/XReg"), id="xref-type"),
        pytest.param(_break_last_stream_checksum, id="flate-checksum"),
    ],
)
def test_a_damaged_cross_reference_stream_is_unreadable_not_an_internal_error(
    trusted, specimens, damage
):
    """pyHanko's reader raised NotImplementedError, AssertionError and zlib.error
    here, which the sandbox reported as internal errors."""
    pdf = specimens["PAdES"].signed.data
    assert pdf.count(b"/XRef") >= 1  # pyHanko writes cross-reference streams

    report = validate_document(data=damage(pdf), filename="x.pdf", policy=POLICY)

    check(report)
    assert report.indication != Indication.TOTAL_PASSED
    assert [r.code for r in report.reasons] == ["unreadable"]


def test_damaged_der_tags_are_unreadable_not_an_internal_error(specimens):
    """asn1crypto raised AttributeError ("'Real' object has no attribute 'native'")
    when a constructed tag became REAL; the engine let it through as a crash."""
    data = specimens["CAdES"].signed.data
    for position in (i for i, byte in enumerate(data) if byte in (0x30, 0x31)):
        damaged = data[:position] + b"\x09" + data[position + 1 :]
        try:
            engine._load_cms(damaged)
        except engine.Unreadable:
            continue
