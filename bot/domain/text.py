"""Text normalisation for Vietnamese: NFC for storage, cleaning at the edge, folding for
matching."""

import unicodedata

_EXTRA_FOLDS = str.maketrans({"đ": "d", "Đ": "d"})
_KEPT_CONTROLS = frozenset("\n\t")
_ZWJ = "\u200d"
# Invisible letters and spaces that make a text look empty; a length check must not count them.
_INVISIBLE = frozenset("\u115f\u1160\u180e\u3164\uffa0")
_LINE_BREAKS = str.maketrans({"\r": "\n", "\u2028": "\n", "\u2029": "\n", "\x85": "\n"})


def nfc(text: str) -> str:
    """Return the text in Unicode NFC, the form we store."""
    return unicodedata.normalize("NFC", text)


def clean(text: str, *, one_line: bool = False) -> str:
    """What a person typed, as we keep it: NFC, without control characters (newline and tab
    kept, or turned into spaces with one_line), zero-width, bidi-control or other invisible
    format characters, and without lone surrogates."""
    unified = text.replace("\r\n", "\n").translate(_LINE_BREAKS)
    kept: list[str] = []
    for index, char in enumerate(unified):
        if char in _KEPT_CONTROLS:
            kept.append(" " if one_line else char)
        elif _visible(char) or (char == _ZWJ and _joins_emoji(unified, index)):
            kept.append(char)
    return nfc("".join(kept))


def _visible(char: str) -> bool:
    """False for control (Cc), format (Cf: zero-width, bidi marks, overrides and isolates),
    surrogate (Cs) and non-characters, and invisible fillers."""
    category = unicodedata.category(char)
    if category in ("Cc", "Cf", "Cs") or char in _INVISIBLE:
        return False
    code = ord(char)
    return not (category == "Cn" and (code & 0xFFFE == 0xFFFE or 0xFDD0 <= code <= 0xFDEF))


def _joins_emoji(text: str, index: int) -> bool:
    """A zero-width joiner inside an emoji sequence (👩‍💻) is part of the emoji."""
    before = text[index - 1] if index > 0 else ""
    after = text[index + 1] if index + 1 < len(text) else ""
    pictures = ("So", "Sk")
    return (
        before != ""
        and after != ""
        and (unicodedata.category(before) in pictures or before == "\ufe0f")
        and unicodedata.category(after) in pictures
    )


def xml_safe(text: str) -> str:
    """The text without characters XML 1.0 and HTML forbid (controls other than tab, newline
    and carriage return, surrogates, U+FFFE and U+FFFF), for what was stored before cleaning."""
    return "".join(c for c in text if _xml_char(c))


def _xml_char(char: str) -> bool:
    code = ord(char)
    if code < 0x20:
        return char in "\t\n\r"
    if 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF:
        return False
    return code not in (0xFFFE, 0xFFFF)


def fold(text: str) -> str:
    """Lower-case, strip diacritics and collapse spaces: 'Gò  Dầu' -> 'go dau'."""
    decomposed = unicodedata.normalize("NFD", text.translate(_EXTRA_FOLDS))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())
