"""Guess whether a text is Vietnamese or English."""

import re
from functools import cache
from pathlib import Path

from langdetect import DetectorFactory, LangDetectException
from langdetect.detector_factory import PROFILES_DIRECTORY

from bot.domain.i18n import DEFAULT_LANGUAGE, LANGUAGES

MIN_RELIABLE_CHARS = 20
DetectorFactory.seed = 0  # the same input always gives the same answer
# Letters that, between our two languages, only Vietnamese uses: with one of them it is sure.
_VIETNAMESE_LETTERS = re.compile(
    "[ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ]", re.IGNORECASE
)

# Common Vietnamese words typed without diacritics, and teen-code, that are not English words:
# langdetect has little to go on in a short unaccented message, but these give it away.
# fmt: off
_VIETNAMESE_WORDS = frozenset({
    "ad", "ah", "ak", "anh", "ap", "bik", "biet", "bn", "cac", "chi", "chua", "cj", "co",
    "cua", "dang", "dc", "di", "doan", "dum", "duoc", "e", "em", "giup", "gium", "gi", "hoi",
    "hok", "j", "khong", "ko", "lam", "lm", "ma", "mik", "minh", "mn", "mun", "muon", "nao",
    "nay", "ne", "nek", "nha", "nhe", "nho", "nhung", "oi", "qa", "r", "roi", "sao", "thi",
    "toi", "tr", "troi", "tui", "va", "vay", "ve", "viec", "voi", "vs", "xa", "xin",
})
# fmt: on
_WORD = re.compile(r"[a-z0-9]+")
VIETNAMESE_WORD_SHARE = 0.4


def _looks_vietnamese(text: str) -> bool:
    words = _WORD.findall(text.lower())
    known = sum(word in _VIETNAMESE_WORDS for word in words)
    return bool(words) and known / len(words) >= VIETNAMESE_WORD_SHARE


@cache
def _factory() -> DetectorFactory:
    """A detector factory that knows only the languages we serve.

    With all 55 profiles, unaccented Vietnamese passes for Tagalog or Indonesian; we only
    ever need to choose between Vietnamese and English.
    """
    factory = DetectorFactory()
    profiles = [(Path(PROFILES_DIRECTORY) / code).read_text("utf-8") for code in LANGUAGES]
    factory.load_json_profile(profiles)
    return factory


def detect_language(text: str, fallback: str = DEFAULT_LANGUAGE) -> str:
    """Return 'vi' or 'en' for a text; short or unclear texts give the fallback."""
    if len(text.strip()) < MIN_RELIABLE_CHARS:
        return fallback
    if _VIETNAMESE_LETTERS.search(text) or _looks_vietnamese(text):
        return "vi"
    detector = _factory().create()
    detector.append(text)
    try:
        best = detector.get_probabilities()[0]
    except (LangDetectException, IndexError):
        return fallback
    return str(best.lang) if best.prob >= 0.6 else fallback
