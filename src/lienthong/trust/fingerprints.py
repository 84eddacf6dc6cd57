"""SHA-256 fingerprints as operators type and read them.

Stored as 64 lower-case hex digits. People copy them from browsers and
``openssl x509 -fingerprint``, which print upper case with colons, and type
only the first few digits; both forms are accepted.
"""

from __future__ import annotations

import re

MIN_PREFIX = 8
SHORT = 16  # hex digits shown in lists: enough to tell certificates apart, short to type

_SEPARATORS = re.compile(r"[\s:]")
_HEX = re.compile(r"[0-9a-f]+")


def normalise(text: str) -> str:
    """``'AB:CD:…'`` → ``'abcd…'``; ValueError when it is not a fingerprint or a prefix of one."""
    value = _SEPARATORS.sub("", text).lower()
    if not _HEX.fullmatch(value) or len(value) > 64:
        raise ValueError(
            f"'{text}' is not a SHA-256 fingerprint (hexadecimal digits, colons allowed)"
        )
    if len(value) < MIN_PREFIX:
        raise ValueError(
            f"'{text}' is too short: give at least {MIN_PREFIX} hexadecimal digits of the fingerprint"
        )
    return value


def display(fingerprint: str) -> str:
    """The full fingerprint the way certificate viewers print it: ``AB:CD:…``."""
    upper = fingerprint.upper()
    return ":".join(upper[i : i + 2] for i in range(0, len(upper), 2))


def short(fingerprint: str) -> str:
    """A prefix long enough to find the certificate again with ``by_fingerprint``."""
    return fingerprint[:SHORT]
