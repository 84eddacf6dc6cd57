"""The validation worker's faster readers answer exactly as pyHanko's and asn1crypto's own."""

from __future__ import annotations

import io

from asn1crypto import x509
from hypothesis import given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils import generic

from lienthong.trust.validation import speedups

ORIGINAL_HEX_READER = generic.read_hex_string_from_stream
ORIGINAL_PREP = speedups._original_string_prep or x509.NameTypeAndValue._ldap_string_prep
ORIGINAL_NAME_EQ = speedups._original_name_eq or x509.Name.__eq__

# Mostly what a hex string holds, with the bytes that send it down the slow path.
HEX_BYTES = st.lists(
    st.sampled_from(list(b"0123456789abcdefABCDEF \n\r\t\f\x00")) | st.sampled_from(list(b"%>g<")),
    max_size=300,
).map(bytes)


def outcome(reader, data: bytes):
    stream = io.BytesIO(data)
    try:
        value = reader(stream)
    except Exception as exc:  # the type is what must agree
        return ("error", type(exc).__name__), stream.tell()
    return ("value", type(value).__name__, bytes(value.original_bytes)), stream.tell()


def fast(stream):
    return speedups.read_hex_string(stream, _fallback=ORIGINAL_HEX_READER)


@settings(max_examples=500, deadline=None)
@given(body=HEX_BYTES, tail=st.binary(max_size=20))
def test_the_hex_reader_agrees_with_pyhankos(body, tail):
    data = b"<" + body + tail
    assert outcome(fast, data) == outcome(ORIGINAL_HEX_READER, data)


def test_the_hex_reader_reads_a_long_signature_and_stops_after_it():
    contents = bytes(range(256)) * 200
    data = b"<" + contents.hex().encode() + b"0" * 30_000 + b"> /Type /Sig"
    stream = io.BytesIO(data)
    value = fast(stream)
    assert bytes(value.original_bytes) == contents + bytes(15_000)
    assert stream.read() == b" /Type /Sig"


def test_an_unterminated_hex_string_is_pyhankos_error():
    data = b"<" + b"ab" * 40_000
    assert outcome(fast, data) == outcome(ORIGINAL_HEX_READER, data)
    assert outcome(fast, data)[0][0] == "error"


def test_an_odd_number_of_digits_ends_with_a_zero():
    assert bytes(fast(io.BytesIO(b"<a b c>")).original_bytes) == b"\xab\xc0"


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300))
def test_the_memoised_name_preparation_agrees_with_asn1cryptos(text):
    prepare = speedups._memoised_string_prep(ORIGINAL_PREP)

    def run(function):
        try:
            return ("value", function(None, text))
        except ValueError as exc:
            return ("error", str(exc))

    assert run(prepare) == run(ORIGINAL_PREP)
    assert run(prepare) == run(ORIGINAL_PREP)  # from the cache, the same


ATTRIBUTE = st.sampled_from(
    ["common_name", "organization_name", "organizational_unit_name", "locality_name"]
)
VALUE = st.text(alphabet="aAbB  đĐ\t-", min_size=1, max_size=6)
RDN = st.lists(st.tuples(ATTRIBUTE, VALUE), min_size=1, max_size=3)
NAME = st.lists(RDN, min_size=1, max_size=3)


def build_name(rdns) -> x509.Name:
    return x509.Name(
        name="",
        value=x509.RDNSequence(
            [
                x509.RelativeDistinguishedName(
                    [
                        x509.NameTypeAndValue(
                            {
                                "type": kind,
                                "value": x509.DirectoryString(name="utf8_string", value=v),
                            }
                            if kind != "country_name"
                            else {"type": kind, "value": v[:2].ljust(2, "x")}
                        )
                        for kind, v in rdn
                    ]
                )
                for rdn in rdns
            ]
        ),
    )


@settings(max_examples=400, deadline=None)
@given(first=NAME, second=NAME, same=st.booleans())
def test_the_kept_name_key_compares_as_asn1crypto_does(first, second, same):
    one = build_name(first)
    other = build_name(first if same else second)
    # Names re-read from their encoding, as certificates of a document are.
    one, other = (x509.Name.load(n.dump(force=True)) for n in (one, other))

    assert speedups.name_equal(one, other) == ORIGINAL_NAME_EQ(one, other)
    assert speedups.name_equal(one, other) == speedups.name_equal(one, other)  # kept keys
    assert speedups.name_equal(one, "not a name") is False


def test_install_replaces_both_and_certificates_still_compare(test_pki):
    speedups.install()
    try:
        assert generic.read_hex_string_from_stream is speedups.read_hex_string
        ours = test_pki.certificate("agency")
        again = x509.Certificate.load(ours.dump())
        assert again.issuer == ours.issuer
        assert again.subject != ours.issuer
    finally:
        generic.read_hex_string_from_stream = ORIGINAL_HEX_READER
        x509.NameTypeAndValue._ldap_string_prep = ORIGINAL_PREP
        x509.Name.__eq__ = ORIGINAL_NAME_EQ
        speedups._installed = False
