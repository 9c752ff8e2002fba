"""The youth dialogue: commands that work everywhere, the menu, and the current step."""

import datetime as dt
from collections.abc import Callable

from bot.domain.i18n import LANGUAGES
from bot.domain.kinds import Kind
from bot.domain.language import first_language
from bot.domain.messages import Choice, Inbound, InputKind, Reply
from handlers import menu, mine, privacy, profile, submission
from handlers.context import Context
from handlers.steps import ask_again, current

LANGUAGE_PREFIX = "lang:"
FLOOD_KEY = "_flood"
CHOSEN_KEY = "_language_chosen"  # the person chose a language: their texts no longer switch it
FLOOD_WINDOW = dt.timedelta(minutes=1)
# What a banned person may still do: their rights over their data.
ALWAYS_ALLOWED = frozenset({"privacy", "mydata", "forget"})


def handle(event: Inbound, ctx: Context) -> list[Reply]:
    """Answer one event from a young person; every input gets a reply in their language."""
    if not event.private_chat:
        return []  # group chats belong to the staff desk
    if event.kind is not InputKind.CHOICE:  # buttons only answer what the bot asked
        flooded = _flood_guard(ctx)
        if flooded is not None:
            return flooded
    if ctx.profile.banned and not (event.kind is InputKind.COMMAND and _allowed_banned(event)):
        return [Reply("errors.banned")]
    if event.kind is InputKind.COMMAND:
        return _on_command(event, ctx)
    expired = _expire(ctx)
    if expired:
        return expired
    if ctx.profile.consented_at is None:
        _follow_their_text(event, ctx)
    if ctx.profile.consented_at is None and ctx.flow != profile.ONBOARDING:
        if event.choice == "consent:privacy" or event.choice.startswith(LANGUAGE_PREFIX):
            return _on_global_choice(event, ctx) or []
        return _onboard(ctx)
    if event.kind is InputKind.CHOICE:
        replies = _on_global_choice(event, ctx)
        if replies is not None:
            return replies
    step = current(ctx)
    if step is not None:
        replies = step.take(event, ctx)
        if replies is not None:
            return replies
        return [_not_understood(event, expects_choice=True), *ask_again(ctx)]
    if event.kind is InputKind.CHOICE:
        return [Reply("errors.stale_choice")]
    return [_not_understood(event, expects_choice=False), menu.main_menu()]


def _follow_their_text(event: Inbound, ctx: Context) -> None:
    """Before consent, a newcomer who has not chosen a language is answered in the language
    their text is clearly written in (the greeting may have guessed from nothing)."""
    if event.kind is InputKind.TEXT and not ctx.draft.get(CHOSEN_KEY):
        ctx.language = first_language(event.text, event.language_hint, ctx.language)


def _allowed_banned(event: Inbound) -> bool:
    return event.command in ALWAYS_ALLOWED


def _onboard(ctx: Context) -> list[Reply]:
    if ctx.first_contact or ctx.flow is None:
        return profile.start_onboarding(ctx)
    return ask_again(ctx)


def _not_understood(event: Inbound, *, expects_choice: bool) -> Reply:
    if event.kind is InputKind.CHOICE:
        return Reply("errors.stale_choice")
    if event.kind is InputKind.UNSUPPORTED:
        return Reply("errors.unsupported")
    if event.kind is InputKind.TEXT and not event.text.strip():
        return Reply("errors.empty_text")
    if expects_choice and event.kind is InputKind.TEXT:
        return Reply("errors.use_buttons")
    if expects_choice:
        return Reply("errors.not_expected")
    return Reply("fallback.received")


# ---- commands ---------------------------------------------------------------------------


def _start(ctx: Context) -> list[Reply]:
    ctx.stopped = False
    if ctx.profile.consented_at is None:
        return profile.start_onboarding(ctx)
    greeting = Reply("welcome.back", {"organisation": ctx.organisation_name})
    if ctx.flow == submission.FLOW:
        return [greeting, *submission.cancel(ctx, "draft.kept")]
    ctx.reset_dialogue()
    return [greeting, menu.main_menu()]


def _cancel(ctx: Context) -> list[Reply]:
    if ctx.flow == submission.FLOW:
        return submission.cancel(ctx)
    if ctx.flow is None:
        return [menu.main_menu("cancel.nothing")]
    ctx.reset_dialogue()
    return [menu.main_menu("cancel.done")]


def _stop(ctx: Context) -> list[Reply]:
    ctx.stopped = True
    ctx.profile.subscriptions = []
    submission.set_aside(ctx)
    return [Reply("stop.done")]


def _consented(action: Callable[[Context], list[Reply]]) -> Callable[[Context], list[Reply]]:
    def guarded(ctx: Context) -> list[Reply]:
        if ctx.profile.consented_at is None:
            return _onboard(ctx)
        return action(ctx)

    return guarded


def _leaving(action: Callable[[Context], list[Reply]]) -> Callable[[Context], list[Reply]]:
    """Leave the current dialogue (keeping a submission's draft), then show something else."""

    def left(ctx: Context) -> list[Reply]:
        submission.set_aside(ctx)
        return action(ctx)

    return left


def _and_again(action: Callable[[Context], list[Reply]]) -> Callable[[Context], list[Reply]]:
    """Answer a side question, then repeat the question the person was at."""
    return lambda ctx: [*action(ctx), *ask_again(ctx)]


def _language_menu(ctx: Context) -> list[Reply]:
    row = tuple(Choice(f"{LANGUAGE_PREFIX}{code}", f"language.name_{code}") for code in LANGUAGES)
    return [Reply("language.ask", choices=(row,))]


COMMANDS: dict[str, Callable[[Context], list[Reply]]] = {
    "start": _start,
    "menu": _consented(_leaving(lambda ctx: [menu.main_menu()])),
    "help": _and_again(lambda ctx: [Reply("help.body")]),
    "language": _language_menu,
    "privacy": _and_again(privacy.notice),
    "cancel": _cancel,
    "stop": _stop,
    "settings": _consented(_leaving(profile.show_settings)),
    "mine": _consented(_leaving(mine.show_list)),
    "mydata": _and_again(privacy.my_data),
    "forget": privacy.ask_forget,
}


def menu_commands() -> tuple[str, ...]:
    """The commands people can type, in the order a command menu lists them."""
    return tuple(COMMANDS)


def _on_command(event: Inbound, ctx: Context) -> list[Reply]:
    action = COMMANDS.get(event.command)
    if action is None:
        return [Reply("errors.unknown_command", {"command": event.command}), *ask_again(ctx)]
    return action(ctx)


# ---- buttons that work from anywhere ----------------------------------------------------


def _on_global_choice(event: Inbound, ctx: Context) -> list[Reply] | None:
    choice = event.choice
    if choice.startswith(LANGUAGE_PREFIX) and choice[len(LANGUAGE_PREFIX) :] in LANGUAGES:
        ctx.language = choice[len(LANGUAGE_PREFIX) :]
        ctx.draft[CHOSEN_KEY] = True
        return [Reply("language.changed"), *ask_again(ctx)]
    if choice == "consent:privacy":
        return [*privacy.notice(ctx), *ask_again(ctx)]
    if choice.startswith("menu:"):
        return _on_menu(choice.removeprefix("menu:"), ctx)
    if choice.startswith("mine:"):
        submission.set_aside(ctx)
        return mine.on_choice(event, ctx)
    if choice == "set:language":
        return _language_menu(ctx)
    if choice.startswith("set:"):
        submission.set_aside(ctx)
        return profile.on_settings_choice(event, ctx)
    if choice.startswith("draft:"):
        return submission.on_draft_choice(event, ctx)
    return None


MENU_PAGES: dict[str, Callable[[Context], list[Reply]]] = {
    "show": lambda ctx: [menu.main_menu()],
    "mine": mine.show_list,
    "settings": profile.show_settings,
    "help": lambda ctx: [Reply("help.body"), menu.main_menu()],
}


def _on_menu(item: str, ctx: Context) -> list[Reply] | None:
    if item not in set(Kind) and item not in MENU_PAGES:
        return None
    submission.set_aside(ctx)
    if item in set(Kind):
        return submission.start(ctx, Kind(item))
    return MENU_PAGES[item](ctx)


# ---- timeouts and flood -----------------------------------------------------------------


def _expire(ctx: Context) -> list[Reply]:
    """After a long silence a dialogue ends; a submission's draft is kept and offered."""
    timeout = dt.timedelta(minutes=ctx.org.raw.limits.dialogue_timeout_minutes)
    if ctx.flow is None or ctx.idle <= timeout:
        return []
    if ctx.flow == submission.FLOW:
        return submission.cancel(ctx, "draft.expired")
    ctx.reset_dialogue()
    return []


def _flood_guard(ctx: Context) -> list[Reply] | None:
    """Count this message in the current minute: None within the limit, one warning just
    past it, then silence until the minute is over."""
    started, count = ctx.draft.get(FLOOD_KEY, [0.0, 0])
    now = ctx.now.timestamp()
    if now - float(started) > FLOOD_WINDOW.total_seconds():
        started, count = now, 0
    count = int(count) + 1
    ctx.draft[FLOOD_KEY] = [started, count]
    limit = ctx.org.raw.limits.messages_per_minute
    if count <= limit:
        return None
    return [Reply("errors.flood")] if count == limit + 1 else []
