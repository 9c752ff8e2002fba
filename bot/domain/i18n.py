"""Message catalogs: every user-facing text, by key, in Vietnamese and English."""

import string
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import yaml

from bot.domain.messages import Rendered, Reply
from bot.domain.text import nfc

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
_LOCALES = Path(__file__).resolve().parent.parent / "locales"


def _flatten(prefix: str, node: object, into: dict[str, str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), value, into)
    else:
        into[prefix] = nfc(str(node)).rstrip("\n")


@cache
def catalog(language: str) -> Mapping[str, str]:
    """All texts of one language, keyed 'section.name'."""
    data = yaml.safe_load((_LOCALES / f"{language}.yaml").read_text(encoding="utf-8"))
    flat: dict[str, str] = {}
    _flatten("", data, flat)
    return flat


def placeholders(text: str) -> set[str]:
    """The {names} a text expects."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def supported(language: str | None) -> str:
    """The language to use for a hint such as Telegram's 'en-GB'; Vietnamese otherwise."""
    base = (language or "").split("-")[0].lower()
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


# What a message is about that anyone may read: its reference code, a public story's title.
GIST = ("code", "title")


def text(key: str, language: str, /, **values: str) -> str:
    """One catalog text, filled in; an unknown key raises KeyError (a test keeps them in step)."""
    return catalog(supported(language))[key].format(**values)


def render(reply: Reply, language: str) -> Rendered:
    """Turn a neutral reply into text and labelled choices in one language."""
    choices = tuple(
        tuple((c.id, text(c.key, language, **c.values)) for c in row) for row in reply.choices
    )
    body = text(reply.key, language, **reply.values)
    return Rendered(
        text=body,
        choices=choices,
        document=reply.document,
        key=reply.replaces,
        photos=reply.photos,
        file=reply.file,
        erase_when_sent=reply.erase_when_sent,
        said=reply.key,
        gist={k: reply.values[k] for k in GIST if k in reply.values},
    )
