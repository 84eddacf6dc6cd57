"""Folding Vietnamese text for search: "Hà Nội", "ha noi" and "HA NOI" are one key.

Vietnamese letters carry up to two marks (a vowel mark and a tone), and "đ" is a
letter of its own that Unicode does not decompose, so NFD alone is not enough.
"""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[^\w\s.]", re.UNICODE)


def fold(text: str) -> str:
    """Lower-case, strip diacritics, map đ to d, and collapse white space."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    cleaned = _NOT_WORD.sub(" ", stripped.casefold())
    return _SPACES.sub(" ", cleaned).strip()


def search_terms(query: str, limit: int = 8) -> list[str]:
    """The folded words of a query, at most ``limit`` of them (bounds the SQL we build)."""
    return fold(query).split()[:limit]
