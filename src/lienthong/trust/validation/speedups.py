"""Faster, equivalent versions of two hot spots of PDF signature validation.

Profiling the validation of a one-signature PAdES B-LT file showed two places
where pyHanko and asn1crypto spend most of the time without doing anything
that needs to be slow:

- pyHanko reads a PDF hex string (``<...>``) one byte at a time through a
  generator. A signature's ``/Contents`` is such a string of tens of thousands
  of digits, so merely locating the signatures of a small file took longer
  than checking them. ``read_hex_string`` reads the string in one pass; for
  anything but plain hex digits and PDF whitespace (a comment, a stray byte,
  the end of the file) it rewinds and hands over to pyHanko's own reader, so
  every outcome — value, error, position — stays pyHanko's.
- asn1crypto prepares every name attribute with RFC 4518 string preparation
  each time a certificate embedded in a document is compared with another
  (path building compares names constantly); the same few strings come back
  in every document. ``install`` memoises that pure function in a bounded
  cache, and lets each parsed name keep its comparison key (``name_equal``):
  path building compares the same few names many times per document.

``install`` is called in each validation worker (sandbox.py), never in the web
process. tests/test_speedups.py checks, with random inputs, that both
replacements answer exactly as the originals do.
"""

from __future__ import annotations

import functools
import os
import re

_installed = False

# PDF whitespace (ISO 32000-1 § 7.2.2) and hex digits: the only bytes the fast
# path accepts between "<" and ">".
_PLAIN_HEX = re.compile(rb"[0-9A-Fa-f \n\r\t\f\x00]*")
_WHITESPACE = re.compile(rb"[ \n\r\t\f\x00]+")
_CHUNK = 64 * 1024
# Strings longer than this are prepared without the cache: names are short,
# and a crafted certificate must not fill the cache with one huge entry.
_PREP_CACHE_MAX_LENGTH = 256
_PREP_CACHE_SIZE = 4096


def read_hex_string(stream, _fallback=None):
    """pyHanko's ``read_hex_string_from_stream``, reading the string in one pass."""
    from pyhanko.pdf_utils import generic

    fallback = _fallback or _original_hex_reader or generic.read_hex_string_from_stream
    start = stream.tell()
    stream.read(1)  # the "<"
    parts = []
    while True:
        block = stream.read(_CHUNK)
        end = block.find(b">")
        if end >= 0:
            parts.append(block[:end])
            stream.seek(end + 1 - len(block), os.SEEK_CUR)
            break
        if not block or _PLAIN_HEX.fullmatch(block) is None:
            stream.seek(start)
            return fallback(stream)
        parts.append(block)
    body = b"".join(parts)
    if _PLAIN_HEX.fullmatch(body) is None:
        stream.seek(start)
        return fallback(stream)
    digits = _WHITESPACE.sub(b"", body)
    if len(digits) % 2:
        digits += b"0"
    return generic.pdf_string(bytes.fromhex(digits.decode("ascii")))


_original_hex_reader = None
_original_string_prep = None
_original_name_eq = None


def _name_key(name) -> tuple:
    """What RFC 5280 § 7.1 name equality compares, as asn1crypto computes it: per
    RDN, its number of attributes and its prepared ``type: value`` pairs."""
    key = name.__dict__.get("_lienthong_key")
    if key is None:
        key = tuple((len(rdn), rdn.hashable) for rdn in name.chosen)
        name.__dict__["_lienthong_key"] = key
    return key


def name_equal(self, other) -> bool:
    """``x509.Name.__eq__``, comparing keys kept on each (never mutated) name."""
    from asn1crypto import x509

    if not isinstance(other, x509.Name):
        return False
    return _name_key(self) == _name_key(other)


def _memoised_string_prep(original):
    @functools.lru_cache(maxsize=_PREP_CACHE_SIZE)
    def prepare(string: str) -> str:
        return original(None, string)

    def _ldap_string_prep(self, string):
        if isinstance(string, str) and len(string) <= _PREP_CACHE_MAX_LENGTH:
            return prepare(string)
        return original(self, string)

    _ldap_string_prep.cache = prepare
    return _ldap_string_prep


def install() -> None:
    """Replace both hot spots in this process (idempotent)."""
    global _installed, _original_hex_reader, _original_string_prep, _original_name_eq
    if _installed:
        return
    from asn1crypto import x509
    from pyhanko.pdf_utils import generic

    _original_hex_reader = generic.read_hex_string_from_stream
    _original_string_prep = x509.NameTypeAndValue._ldap_string_prep
    generic.read_hex_string_from_stream = read_hex_string
    x509.NameTypeAndValue._ldap_string_prep = _memoised_string_prep(_original_string_prep)
    _original_name_eq = x509.Name.__eq__
    x509.Name.__eq__ = name_equal
    _installed = True
