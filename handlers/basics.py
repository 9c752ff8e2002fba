"""First contact, help, language and the polite answers to anything not understood."""

from bot.domain.i18n import LANGUAGES
from bot.domain.messages import Choice, Inbound, InputKind, Reply
from handlers.context import Context

LANGUAGE_CHOICE_PREFIX = "lang:"


def _language_menu() -> Reply:
    row = tuple(
        Choice(f"{LANGUAGE_CHOICE_PREFIX}{code}", f"language.name_{code}") for code in LANGUAGES
    )
    return Reply("language.ask", choices=(row,))


def _on_command(event: Inbound, ctx: Context) -> list[Reply]:
    if event.command == "start":
        ctx.reset_dialogue()
        ctx.stopped = False
        return [Reply("welcome.greeting", {"organisation": ctx.organisation_name})]
    if event.command == "help":
        return [Reply("help.body")]
    if event.command == "language":
        return [_language_menu()]
    return [Reply("errors.unknown_command", {"command": event.command})]


def _on_choice(event: Inbound, ctx: Context) -> list[Reply]:
    code = event.choice.removeprefix(LANGUAGE_CHOICE_PREFIX)
    if event.choice.startswith(LANGUAGE_CHOICE_PREFIX) and code in LANGUAGES:
        ctx.language = code
        return [Reply("language.changed")]
    return [Reply("errors.stale_choice")]


def handle(event: Inbound, ctx: Context) -> list[Reply]:
    """Answer one inbound event; every input gets a reply in the person's language."""
    if event.kind is InputKind.COMMAND:
        return _on_command(event, ctx)
    if event.kind is InputKind.CHOICE:
        return _on_choice(event, ctx)
    if ctx.first_contact:
        return [Reply("welcome.greeting", {"organisation": ctx.organisation_name})]
    if event.kind is InputKind.TEXT and not event.text.strip():
        return [Reply("errors.empty_text")]
    if event.kind is InputKind.UNSUPPORTED:
        return [Reply("errors.unsupported")]
    return [Reply("fallback.received")]
