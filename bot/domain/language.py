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
    if _VIETNAMESE_LETTERS.search(text):
        return "vi"
    detector = _factory().create()
    detector.append(text)
    try:
        best = detector.get_probabilities()[0]
    except (LangDetectException, IndexError):
        return fallback
    return str(best.lang) if best.prob >= 0.6 else fallback
