"""Fitting rendered replies to what a channel can do: buttons or a numbered menu, texts cut to
the channel's length, edits or new messages; and reading a typed answer to a numbered menu.

Pure functions: the outbox, the dispatcher and the senders call them with a channel's
`Capabilities`.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.channels.base import Capabilities
from bot.domain.i18n import text
from bot.domain.messages import Rendered
from bot.domain.text import fold

# What a numbered menu offered, in order: entry n (from 1) is the choice for the number n.
Offer = tuple[tuple[str, str], ...]  # (choice id, label)

# The end of a sentence: its mark, any closing quotes or brackets, then the space after it.
_SENTENCE_END = re.compile(r"[.!?…][\"'\u201d\u2019»)\]]*(?=\s)")
_NUMBER = re.compile(r"^\s*(\d{1,3})\s*[.)]?\s*$")


@dataclass(frozen=True)
class Fitted:
    """A chat's messages as its channel will show them, and the menu they offered."""

    messages: tuple[Rendered, ...]
    offer: Offer


def fit_menus(
    messages: Sequence[Rendered], capabilities: Capabilities, language: str, offered: Offer = ()
) -> Fitted:
    """Where the channel has no buttons (or not that many), turn a message's choices into a
    numbered menu at the end of its text, numbered on after what was `offered` just before
    (in the same answer), so every number means one choice."""
    if not capabilities.numbered_menus:
        return Fitted(tuple(messages), offered)
    fitted: list[Rendered] = []
    offer = list(offered)
    for message in messages:
        count = sum(len(row) for row in message.choices)
        if count and capabilities.as_buttons(count):
            fitted.append(message)
            continue
        shown, offer = numbered(message, offer, language)
        fitted.append(shown)
    return Fitted(tuple(fitted), tuple(offer))


def numbered(
    message: Rendered, offered: list[tuple[str, str]], language: str
) -> tuple[Rendered, list[tuple[str, str]]]:
    """The message with its choices as numbered lines after those already offered, and a
    line saying which numbers to reply; with no choices left on it."""
    options = [choice for row in message.choices for choice in row]
    if not options:
        return message, offered
    first = len(offered) + 1
    numbers = [str(first + index) for index in range(len(options))]
    lines = [f"{number}. {label}" for number, (_, label) in zip(numbers, options, strict=True)]
    menu = "\n".join([*lines, reply_with(numbers, language)])
    body = f"{message.text}\n\n{menu}" if message.text else menu
    return replace(message, text=body, choices=()), [*offered, *options]


def reply_with(numbers: Sequence[str], language: str) -> str:
    """The line under a numbered menu: "Trả lời 1, 2 hoặc 3"."""
    if len(numbers) == 1:
        return text("render.reply_one", language, number=numbers[0])
    return text("render.reply_many", language, numbers=", ".join(numbers[:-1]), last=numbers[-1])


def chosen(typed: str, offer: Offer) -> str | None:
    """The choice a typed answer picks from what was offered: its number, or its label
    (diacritics, case and marks aside); None when it picks nothing."""
    number = _NUMBER.match(typed)
    if number is not None:
        index = int(number.group(1)) - 1
        return offer[index][0] if 0 <= index < len(offer) else None
    wanted = _bare(typed)
    if not wanted:
        return None
    matches = [choice for choice, label in offer if _bare(label) == wanted]
    return matches[0] if len(set(matches)) == 1 else None


def _bare(label: str) -> str:
    """A label folded to its letters, digits and single spaces ("✅ Đồng ý!" -> "dong y")."""
    kept = "".join(c if c.isalnum() else " " for c in fold(label))
    return " ".join(kept.split())


def edits_in_place(message: Rendered, capabilities: Capabilities) -> bool:
    """Whether a message with a key replaces the earlier one (else it is sent anew)."""
    return message.key is not None and capabilities.edits


def pieces(message: Rendered, capabilities: Capabilities) -> list[Rendered]:
    """The message as the channel takes it: a text over its length as several messages, the
    choices and key on the last. One with photos, a file or a document goes whole: its
    sender shows the media first and cuts the text after it."""
    media = message.photos or message.file is not None or message.document is not None
    if len(message.text) <= capabilities.max_text or media:
        return [message]
    *leading, last = split_text(message.text, capabilities.max_text)
    plain = [Rendered(text) for text in leading]
    return [*plain, replace(message, text=last)]


def split_text(text: str, limit: int) -> list[str]:
    """Cut a long text into pieces of at most `limit` characters: after a sentence where
    one ends in the second half of a piece, else at a line break, else between words, else
    anywhere."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = _cut(rest, limit)
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    pieces.append(rest)
    return pieces


def _cut(text: str, limit: int) -> int:
    """Where to end the next piece of a text longer than `limit`."""
    window = text[: limit + 1]
    ends = [m.end() for m in _SENTENCE_END.finditer(window) if m.end() <= limit]
    if ends and ends[-1] >= limit // 2:
        return ends[-1]
    for separator in ("\n", " "):
        cut = window.rfind(separator, 0, limit + 1)
        if cut > 0:
            return cut
    return limit
