"""Guess whether a text is Vietnamese or English."""

from langdetect import DetectorFactory, LangDetectException, detect_langs

from bot.domain.i18n import LANGUAGES

MIN_RELIABLE_CHARS = 20
DetectorFactory.seed = 0  # the same input always gives the same answer


def detect_language(text: str, fallback: str) -> str:
    """Return 'vi' or 'en' for a text; short or unclear texts give the fallback."""
    if len(text.strip()) < MIN_RELIABLE_CHARS:
        return fallback
    try:
        guesses = detect_langs(text)
    except LangDetectException:
        return fallback
    for guess in guesses:
        if guess.lang in LANGUAGES:
            return str(guess.lang)
    return fallback
