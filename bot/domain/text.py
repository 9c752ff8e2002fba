"""Text normalisation for Vietnamese: NFC for storage, folding for matching."""

import unicodedata

_EXTRA_FOLDS = str.maketrans({"đ": "d", "Đ": "d"})


def nfc(text: str) -> str:
    """Return the text in Unicode NFC, the form we store."""
    return unicodedata.normalize("NFC", text)


def fold(text: str) -> str:
    """Lower-case, strip diacritics and collapse spaces: 'Gò  Dầu' -> 'go dau'."""
    decomposed = unicodedata.normalize("NFD", text.translate(_EXTRA_FOLDS))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())
