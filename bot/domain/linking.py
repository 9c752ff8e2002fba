"""One person across channels, only if they link them: the short code, what using one does,
and how many wrong codes an account may try.

The rule: the account that types a code joins the person who made it. Everything the joining
person had moves with it (their other accounts, submissions, threads); the code maker's
consent, language and settings stand, gaps filled from the joining person's profile; *always
anonymous*, a ban and subscriptions are the stricter or the union of both. Submissions keep
their own privacy (anonymous stays anonymous, confidential stays the inspection committee's).
Staff accounts come from config.yaml or an invitation, never from a code.
"""

import datetime as dt
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

# Digits: a phone's number pad, and no Telex or VNI typing turns them into ư or ơ. Eight, as any
# live code links its maker's data to whoever types it: an address that opens many web sessions
# (300 an hour are allowed) can try 1,500 codes an hour; against 10 live codes in 10^8 that is
# one hit in about 6,700 hours, where six digits gave one in 67.
CODE_DIGITS = 8
TRIES_WINDOW = dt.timedelta(hours=1)
SEPARATORS = frozenset(" -.")


class LinkOutcome(StrEnum):
    """What typing a code did."""

    LINKED = "linked"
    WRONG = "wrong"
    EXPIRED = "expired"
    USED = "used"
    SAME = "same"  # the code is the person's own: this account is theirs already
    STAFF = "staff"


# Outcomes that count against the account's tries (a guess, not a mistake about the rule).
FAILED = frozenset({LinkOutcome.WRONG, LinkOutcome.EXPIRED, LinkOutcome.USED})


@dataclass(frozen=True)
class LinkCode:
    """A code as stored: whose it is, until when, whether used, whether its maker is staff."""

    person_id: int
    expires_at: dt.datetime
    used_at: dt.datetime | None
    staff: bool


@dataclass(frozen=True)
class Tries:
    """An account's failed codes in the current window."""

    started: dt.datetime
    count: int


def new_code(randbelow: Callable[[int], int]) -> str:
    """A fresh code: CODE_DIGITS digits, leading zeros kept."""
    return f"{randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def shown_code(code: str) -> str:
    """A code as people read it: two groups of four digits."""
    return f"{code[:4]} {code[4:]}"


def read_code(typed: str) -> str | None:
    """The code in what was typed ('12345678', '1234 5678', '1234-5678', full-width digits),
    or None."""
    compact = "".join(c for c in unicodedata.normalize("NFKC", typed) if c not in SEPARATORS)
    if len(compact) == CODE_DIGITS and compact.isascii() and compact.isdigit():
        return compact
    return None


def judge(code: LinkCode | None, *, person_id: int, staff: bool, now: dt.datetime) -> LinkOutcome:
    """What typing a code does, for the person behind the account that typed it."""
    if code is None:
        return LinkOutcome.WRONG
    if code.person_id == person_id:
        return LinkOutcome.SAME
    if code.used_at is not None:
        return LinkOutcome.USED
    if code.expires_at <= now:
        return LinkOutcome.EXPIRED
    if staff or code.staff:
        return LinkOutcome.STAFF
    return LinkOutcome.LINKED


def current_tries(tries: Tries | None, now: dt.datetime) -> Tries:
    """The tries that still count now (a window over an hour ago counts no more)."""
    if tries is None or now - tries.started >= TRIES_WINDOW:
        return Tries(now, 0)
    return tries


def may_try(tries: Tries | None, now: dt.datetime, limit: int) -> bool:
    """Whether the account may try another code now."""
    return current_tries(tries, now).count < limit


def after(outcome: LinkOutcome, tries: Tries | None, now: dt.datetime) -> Tries:
    """The tries once a code was typed: a failure counts, anything else changes nothing."""
    counted = current_tries(tries, now)
    if outcome not in FAILED:
        return counted
    return Tries(counted.started, counted.count + 1)


def retry_at(tries: Tries) -> dt.datetime:
    """When an account that used up its tries may try again."""
    return tries.started + TRIES_WINDOW
