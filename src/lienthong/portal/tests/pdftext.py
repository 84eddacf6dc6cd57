"""The text of a PDF reportlab made, as a reader would copy it: for the tests.

reportlab writes text in embedded (subset) TrueType fonts as one-byte codes
and gives each font a ToUnicode map; reading the page content streams back
through those maps gives the Vietnamese letters a reader sees, so a test can
tell that "Giấy tiếp nhận" is really in the file, not boxes of missing glyphs.
Only what reportlab writes is handled (``Tf`` and ``Tj`` / ``TJ`` operators).
"""

from __future__ import annotations

import io
import re

from pyhanko.pdf_utils.reader import PdfFileReader

BFCHAR = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>")
TOKENS = re.compile(rb"/([^\s/\[\]()<>]+)\s+[\d.]+\s+Tf|\((?:\\.|[^\\)])*\)|\[|\]|Tj|TJ|T\*|ET")
ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _unescape(literal: bytes) -> bytes:
    out, index = bytearray(), 0
    while index < len(literal):
        char = literal[index : index + 1]
        if char != b"\\":
            out += char
            index += 1
            continue
        following = literal[index + 1 : index + 2]
        octal = re.match(rb"[0-7]{1,3}", literal[index + 1 : index + 4])
        if octal:
            out.append(int(octal.group(), 8) & 0xFF)
            index += 1 + len(octal.group())
        else:
            out += ESCAPES.get(following, following)
            index += 2
    return bytes(out)


def _to_unicode(font) -> dict[int, str]:
    if "/ToUnicode" not in font:
        return {}
    data = font["/ToUnicode"].data
    return {
        int(code, 16): bytes.fromhex(text.decode()).decode("utf-16-be")
        for section in re.findall(rb"beginbfchar(.*?)endbfchar", data, re.S)
        for code, text in BFCHAR.findall(section)
    }


def pdf_text(data: bytes) -> str:
    reader = PdfFileReader(io.BytesIO(data))
    lines: list[str] = []
    for page_number in range(reader.root["/Pages"]["/Count"]):
        page = reader.find_page_for_modification(page_number)[0].get_object()
        resources = page["/Resources"]
        fonts = resources["/Font"] if "/Font" in resources else {}  # noqa: SIM401 (dereferences)
        maps = {str(name)[1:]: _to_unicode(fonts[name]) for name in fonts}
        contents = page["/Contents"]
        streams = contents if isinstance(contents, list) else [contents]
        stream = b"".join(getattr(s, "get_object", lambda s=s: s)().data for s in streams)
        current: dict[int, str] = {}
        line = ""
        for match in TOKENS.finditer(stream):
            token = match.group(0)
            if match.group(1) is not None:
                current = maps.get(match.group(1).decode(), {})
            elif token.startswith(b"("):
                line += "".join(current.get(b, chr(b)) for b in _unescape(token[1:-1]))
            elif token in (b"T*", b"ET") and line:
                lines.append(line)
                line = ""
        if line:
            lines.append(line)
    # Lines joined by one space: a test reads the words, not where a line wraps.
    return " ".join(" ".join(lines).split())
