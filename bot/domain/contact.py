"""A name and a call-back contact a person types for themselves: cleaned and checked."""

import re
import unicodedata

NAME_MIN_CHARS, NAME_MAX_CHARS = 2, 80
EMAIL_MAX_CHARS = 254
# Mobile numbers (03x, 05x, 07x, 08x, 09x + 7 digits) and landlines (02xx + 7 or 8 digits).
_VN_PHONE = re.compile(r"0(?:[35789]\d{8}|2\d{8,9})")
_PHONE_MARKS = re.compile(r"[\s.\-()]")
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
# A text made only of these words is a greeting or thanks: a conversation opener, not
# something to file. At least one must be a greeting word proper.
GREETING_WORDS = frozenset(
    {
        "hi",
        "hello",
        "hey",
        "alo",
        "lô",
        "chào",
        "xin",
        "cảm",
        "cám",
        "ơn",
        "thanks",
        "thank",
        "ok",
        "oke",
        "okay",
    }
)
POLITE_WORDS = frozenset(
    {"a", "ạ", "bạn", "ad", "admin", "anh", "chị", "em", "mọi", "người", "nhé", "nha",
     "you", "there", "all", "nhiều", "lắm", "good", "morning", "buổi", "sáng", "tỉnh", "đoàn"}
)  # fmt: skip


def clean_name(typed: str) -> str | None:
    """The name in NFC with single spaces, or None unless it is 2 to 80 letters and spaces."""
    name = " ".join(unicodedata.normalize("NFC", typed).split())
    if not NAME_MIN_CHARS <= len(name) <= NAME_MAX_CHARS:
        return None
    # Marks stay allowed: a few Vietnamese letters have no precomposed form.
    if not all(c == " " or unicodedata.category(c)[0] in "LM" for c in name):
        return None
    return name if sum(c.isalpha() for c in name) >= NAME_MIN_CHARS else None


def clean_phone(typed: str) -> str | None:
    """A Vietnamese phone number as +84…, from 0…, 84… or +84… with spaces, dots or dashes."""
    digits = _PHONE_MARKS.sub("", unicodedata.normalize("NFKC", typed))
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) >= 11:
        digits = "0" + digits[2:]
    return "+84" + digits[1:] if _VN_PHONE.fullmatch(digits) else None


def clean_email(typed: str) -> str | None:
    """An e-mail address with its domain in lower case, or None if it does not look like one."""
    address = unicodedata.normalize("NFKC", typed).strip()
    if len(address) > EMAIL_MAX_CHARS or not _EMAIL.fullmatch(address):
        return None
    local, domain = address.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def clean_contact(typed: str) -> str | None:
    """A phone number (normalised) or an e-mail address, or None if it is neither."""
    return clean_phone(typed) or clean_email(typed)


def is_greeting(typed: str) -> bool:
    """Whether a text is only a greeting or thanks (punctuation and case aside)."""
    words = set(re.sub(r"[^\w\s]", " ", unicodedata.normalize("NFC", typed).casefold()).split())
    return bool(words & GREETING_WORDS) and words <= GREETING_WORDS | POLITE_WORDS
