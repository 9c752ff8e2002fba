"""Guess whether a text is Vietnamese or English, and which language to greet someone in."""

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from langdetect import DetectorFactory, LangDetectException
from langdetect.detector_factory import PROFILES_DIRECTORY

from bot.domain.i18n import DEFAULT_LANGUAGE, LANGUAGES, supported
from bot.domain.text import fold

MIN_RELIABLE_CHARS = 20
DetectorFactory.seed = 0  # the same input always gives the same answer
# Letters that, between our two languages, only Vietnamese uses: with one of them it is sure.
_VIETNAMESE_LETTERS = re.compile(
    "[ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ]", re.IGNORECASE
)
# A Vietnamese syllable typed bare is an onset and a rhyme from a short closed list; most
# English words (clusters like 'str', finals like 's', 'l', 'd', 'r') are not.
_ONSET = "(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnprstvx])?"
# fmt: off
_RHYMES = (
    "a ac ach ai am an ang anh ao ap at au ay "
    "e ec ech em en eng enh eo ep et eu "
    "i ia ich iec iem ien ieng iep iet ieu im in inh ip it iu "
    "o oa oac oach oai oam oan oang oanh oao oap oat oay oc oe oen oeo oet oi om on ong ooc "
    "oong op ot "
    "u ua uan uang uanh uat uay uc ue uen uenh uet ui um un ung uo uoc uoi uom uon uong uop uot "
    "uou up ut uu uy uya uych uyen uyet uynh uyt uyu y yem yen yet yeu"
)
# Teen-code and the abbreviations young Vietnamese type, which are not syllables.
_TEEN_CODE = frozenset({
    "ad", "ae", "ak", "bh", "bik", "bn", "bt", "bth", "cd", "cj", "ck", "clb", "cx", "dc",
    "dg", "dh", "ds", "fb", "hnay", "hok", "hqua", "hs", "ib", "j", "ji", "k", "kcn", "kh",
    "khum", "mik", "mk", "mn", "mng", "nek", "ng", "nma", "ns", "ntn", "nv", "nx", "ph", "qa",
    "r", "sdt", "sv", "t", "thcs", "thik", "thpt", "tnv", "tr", "uk", "v", "vk", "vs", "wa",
    "z", "zay", "zalo", "zui",
})
# Short English words that are also bare Vietnamese syllables ('can' is cần, 'the' thế):
# they say nothing either way, so the share leaves them out.
_EITHER = frozenset({
    "a", "am", "an", "at", "ban", "bang", "be", "bet", "bin", "bit", "bun", "but", "by",
    "bye", "can", "cap", "cat", "chat", "chin", "chip", "cop", "cot", "cup", "cut", "day",
    "die", "do", "dot", "get", "go", "got", "gun", "hang", "hat", "he", "hi", "him", "hit",
    "hop", "hot", "hut", "i", "in", "it", "let", "lie", "lot", "man", "map", "may", "me",
    "men", "met", "mom", "my", "net", "not", "nut", "on", "pan", "pay", "pet", "pie", "pin",
    "pop", "pot", "ran", "run", "sang", "say", "set", "sit", "so", "son", "song", "sun",
    "ten", "than", "that", "the", "them", "then", "thin", "tie", "tin", "tip", "to", "top",
    "up", "van", "vet", "yet",
})
# fmt: on
_LONGEST_FIRST = sorted(_RHYMES.split(), key=len, reverse=True)
_SYLLABLE = re.compile(_ONSET + "(?:" + "|".join(_LONGEST_FIRST) + ")")
_WORD = re.compile(r"[^\W\d_]+")
# On tests/data/language.tsv bare Vietnamese scores 0.88-1 (names and loanwords pull it
# down), English 0-0.33; a text in between is left to langdetect.
VIETNAMESE_SHARE = 0.7
MIN_TELLING_WORDS = 2
ENGLISH_SHARE = 0.6
CLEAR = 0.9  # langdetect's probability that makes an English guess sure
LEANING = 0.6  # below it a guess is no guess


@dataclass(frozen=True)
class Guess:
    """A text's likely language, and whether it is clear enough to act on alone."""

    language: str
    sure: bool


def vietnamese_share(text: str) -> float:
    """The share of the telling words (not ones English shares) that could be Vietnamese
    typed bare: syllables and teen-code. Fewer than two telling words tell nothing (0)."""
    words = [w for w in _WORD.findall(fold(text)) if w not in _EITHER]
    if len(words) < MIN_TELLING_WORDS:
        return 0.0
    fits = sum(w in _TEEN_CODE or _SYLLABLE.fullmatch(w) is not None for w in words)
    return fits / len(words)


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


def _langdetect(text: str) -> Guess | None:
    detector = _factory().create()
    detector.append(text)
    try:
        best = detector.get_probabilities()[0]
    except (LangDetectException, IndexError):
        return None
    if best.prob < LEANING:
        return None
    return Guess(str(best.lang), sure=best.prob >= CLEAR and best.lang != "vi")


def guess_language(text: str) -> Guess | None:
    """The language of a text, or None when it is too short or gives nothing away."""
    if len(text.strip()) < MIN_RELIABLE_CHARS:
        return None
    share = vietnamese_share(text)
    if _VIETNAMESE_LETTERS.search(text) or share >= VIETNAMESE_SHARE:
        return Guess("vi", sure=True)
    found = _langdetect(text)
    if found is not None and found.language == "en" and share > ENGLISH_SHARE:
        return Guess("en", sure=False)  # most of its words could be Vietnamese
    return found


def detect_language(text: str, fallback: str = DEFAULT_LANGUAGE) -> str:
    """Return 'vi' or 'en' for a text; short or unclear texts give the fallback."""
    found = guess_language(text)
    return found.language if found is not None else fallback


def first_language(text: str, hint: str | None, default: str) -> str:
    """The language to greet a newcomer in: the default unless their text is clearly in
    the other one. A channel's hint (Telegram's language_code) only tips a text that leans
    its way; alone it changes nothing, since many Vietnamese use Telegram in English."""
    found = guess_language(text)
    if found is None:
        return default
    if found.sure or (hint is not None and found.language == supported(hint)):
        return found.language
    return default
