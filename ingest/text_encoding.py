"""Bytes of a text file -> str: BOM, UTF-16/32 without a BOM, strict UTF-8, then charset detection."""

from __future__ import annotations

from pathlib import Path

from citewise.errors import IngestError

_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


def decode_bytes(data: bytes) -> str:
    """Decode text in any common encoding: BOM, then strict UTF-8, then charset detection."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding)
    wide = _wide_encoding(data[:4096]) if b"\x00" in data[:4096] else None
    if wide is not None:
        try:
            return data.decode(wide)
        except UnicodeDecodeError:
            pass
    try:
        if b"\x00" not in data[:4096]:
            return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if b"\x00" in data[:4096]:
        raise IngestError(
            "the file is binary (NUL bytes), not text in any encoding that could be detected; "
            "give it its real extension or re-save it as UTF-8"
        )
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise IngestError("the file's text encoding could not be detected (binary or corrupt); re-save it as UTF-8")
    # equally plausible single-byte code pages: prefer the most common one, Windows-1252
    tied = [m for m in matches if m.chaos == best.chaos and m.coherence == best.coherence]
    return str(next((m for m in tied if m.encoding == "cp1252"), best))


def _wide_encoding(head: bytes) -> str | None:
    """UTF-16/32 without a BOM, told by where the zero bytes of ASCII characters fall."""
    n = len(head) - len(head) % 4
    if n < 8:
        return None
    quads = [head[i : i + 4] for i in range(0, n, 4)]
    if sum(q[1:] == b"\x00\x00\x00" for q in quads) > 0.6 * len(quads):
        return "utf-32-le"
    if sum(q[:3] == b"\x00\x00\x00" for q in quads) > 0.6 * len(quads):
        return "utf-32-be"
    even, odd = head[0:n:2], head[1:n:2]
    if odd.count(0) > 0.6 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.6 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def bom_encoding(path: Path) -> str | None:
    with path.open("rb") as fh:
        head = fh.read(4)
    return next((enc for bom, enc in _BOMS if head.startswith(bom)), None)
