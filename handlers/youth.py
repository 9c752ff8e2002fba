"""The youth dialogue: commands that work everywhere, the menu, and the current step."""

import datetime as dt
from collections.abc import Callable

from bot.domain.contact import is_greeting
from bot.domain.i18n import LANGUAGES
from bot.domain.kinds import Kind
from bot.domain.language import first_language
from bot.domain.messages import Choice, Inbound, InputKind, Reply
from handlers import flows, linking, menu, mine, privacy, profile, submission
from handlers.context import Context
from handlers.flows import parse_choice
from handlers.steps import ask_again, current, rows, text_of

LANGUAGE_PREFIX = "lang:"
FLOOD_WINDOW = dt.timedelta(minutes=1)
# What a banned person may still do: their rights over their data.
ALWAYS_ALLOWED = frozenset({"privacy", "mydata", "forget"})


def handle(event: Inbound, ctx: Context) -> list[Reply]:
    """Answer one event from a young person; every input gets a reply in their language."""
    if not event.private_chat:
        return []  # group chats belong to the staff desk
    if not _keeps_typed(event):
        ctx.draft.pop(TYPED_KEY, None)  # they moved on: text kept at the menu is not kept on
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
        if _before_consent(event.choice):
            return _on_global_choice(event, ctx) or []
        return _onboard(ctx)
    if event.kind is InputKind.CHOICE:
        replies = _on_global_choice(event, ctx)
        if replies is not None:
            return replies
    step = current(ctx)
    if event.notice is not None:  # the channel's own word on what it could not pass on
        noticed = Reply(event.notice, {"link": ctx.links.get("chat", "")})
        return [noticed, *(ask_again(ctx) if step is not None else [menu.main_menu()])]
    if step is not None:
        replies = step.take(event, ctx)
        if replies is not None:
            return replies
        return [_not_understood(event, expects_choice=True), *ask_again(ctx)]
    if event.kind is InputKind.CHOICE:
        return [Reply("errors.stale_choice")]
    offer = _offer_to_file(event, ctx)
    if offer is not None:
        return offer
    return [_not_understood(event, expects_choice=False), menu.main_menu()]


# ---- text typed with no dialogue open ---------------------------------------------------

TYPED_KEY = "_typed"  # in the dialogue's draft JSON: text typed at the menu, until filed
KEPT_KINDS = (Kind.QUESTION, Kind.COMPLAINT, Kind.IDEA)
# Choices that leave the kept text kept: the offer's own, and a language switch.
KEPT_PREVIEW = 60  # characters of kept text quoted back, cut at a word
KEEPS_TYPED = frozenset({"kept", "lang"})


def _offer_to_file(event: Inbound, ctx: Context) -> list[Reply] | None:
    """Text typed at the menu is kept and offered as a question, complaint or idea; None for
    a greeting or a text too short to file (those get the menu, as before)."""
    typed = text_of(event) if event.kind is InputKind.TEXT else None
    limits = ctx.org.raw.limits
    if typed is None or is_greeting(typed):
        return None
    if not limits.text_min_chars <= len(typed) <= limits.text_max_chars:
        return None
    ctx.draft[TYPED_KEY] = typed
    return [_kept_offer(typed)]


def _keeps_typed(event: Inbound) -> bool:
    """Whether text kept at the menu stays kept: the offer's answer, or a language switch."""
    if event.kind is InputKind.COMMAND:
        return event.command == "language"
    return parse_choice(event.choice)[0] in KEEPS_TYPED


def _kept_offer(typed: str) -> Reply:
    choices = [Choice(f"kept:{kind}", f"menu.{kind}") for kind in KEPT_KINDS]
    choices.append(Choice("kept:cancel", "profile_name.kept_cancel"))
    flat = " ".join(typed.split())
    preview = flat if len(flat) <= KEPT_PREVIEW else flat[:KEPT_PREVIEW].rsplit(" ", 1)[0] + "…"
    return Reply("profile_name.kept_ask", {"text": preview}, choices=rows(choices))


def _file_kept(args: tuple[str, ...], event: Inbound, ctx: Context) -> list[Reply] | None:
    typed = ctx.draft.pop(TYPED_KEY, None)
    if typed is None or args == ("cancel",):
        return [menu.main_menu("profile_name.kept_dropped" if typed else "menu.ask")]
    if args[0] not in KEPT_KINDS:
        ctx.draft[TYPED_KEY] = typed
        return None
    return submission.start(ctx, Kind(args[0]), str(typed))


def _follow_their_text(event: Inbound, ctx: Context) -> None:
    """Before consent, a newcomer who has not chosen a language is answered in the language
    their text is clearly written in (the greeting may have guessed from nothing)."""
    if event.kind is InputKind.TEXT and not ctx.language_chosen:
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


def _link(event: Inbound, ctx: Context) -> list[Reply]:
    """/link; a newcomer may type a code from their other account instead of onboarding."""
    if ctx.profile.consented_at is None and not event.args and ctx.staff_code is None:
        return [Reply("link.usage_new"), *_onboard(ctx)]
    return linking.on_link(event, ctx)


Command = Callable[[Inbound, Context], list[Reply]]


def _plain(action: Callable[[Context], list[Reply]]) -> Command:
    """A command that reads nothing typed after it."""
    return lambda event, ctx: action(ctx)


# The one list of the commands people can type, in the order a command menu shows them.
COMMANDS: dict[str, Command] = {
    # In the order a command menu lists them (Telegram's shows this table as it is).
    "start": _plain(_start),
    "menu": _plain(_consented(_leaving(lambda ctx: [menu.main_menu()]))),
    "mine": _plain(_consented(_leaving(mine.show_list))),
    "settings": _plain(_consented(_leaving(profile.show_settings))),
    "link": _link,
    "unlink": _plain(_leaving(linking.on_unlink)),
    "help": _plain(_and_again(lambda ctx: [Reply("help.body")])),
    "language": _plain(_language_menu),
    "privacy": _plain(_and_again(privacy.notice)),
    "mydata": _plain(_and_again(privacy.my_data)),
    "forget": _plain(privacy.ask_forget),
    "cancel": _plain(_cancel),
    "stop": _plain(_stop),
}


def menu_commands() -> tuple[str, ...]:
    """The commands people can type, in the order a command menu lists them."""
    return tuple(COMMANDS)


def _on_command(event: Inbound, ctx: Context) -> list[Reply]:
    action = COMMANDS.get(event.command)
    if action is None:
        return [Reply("errors.unknown_command", {"command": event.command}), *ask_again(ctx)]
    return action(event, ctx)


# ---- buttons that work from anywhere ----------------------------------------------------


ChoiceAction = Callable[[tuple[str, ...], Inbound, Context], list[Reply] | None]


def _choose_language(args: tuple[str, ...], event: Inbound, ctx: Context) -> list[Reply] | None:
    if len(args) != 1 or args[0] not in LANGUAGES:
        return None
    ctx.language = args[0]
    ctx.language_chosen = True
    return [Reply("language.changed"), *_where_they_were(ctx)]


def _where_they_were(ctx: Context) -> list[Reply]:
    """The open question again (now in their new language), else the main menu."""
    again = ask_again(ctx)
    if again:
        return again
    if TYPED_KEY in ctx.draft:  # the offer to file what they typed is the open question
        return [_kept_offer(str(ctx.draft[TYPED_KEY]))]
    if ctx.profile.consented_at is None:
        return flows.start(ctx, profile.ONBOARDING_FLOW)
    return [menu.main_menu()]


def _read_privacy(args: tuple[str, ...], event: Inbound, ctx: Context) -> list[Reply] | None:
    if args != ("privacy",):
        return None  # the other consent buttons answer the consent question
    return [*privacy.notice(ctx), *ask_again(ctx)]


def _menu_item(args: tuple[str, ...], event: Inbound, ctx: Context) -> list[Reply] | None:
    return _on_menu(":".join(args), ctx)


def _my_submissions(args: tuple[str, ...], event: Inbound, ctx: Context) -> list[Reply] | None:
    submission.set_aside(ctx)
    return mine.on_choice(event, ctx)


def _setting(args: tuple[str, ...], event: Inbound, ctx: Context) -> list[Reply] | None:
    if args == ("language",):
        return _language_menu(ctx)
    submission.set_aside(ctx)
    return profile.on_settings_choice(event, ctx)


def _unsubscribe(args: tuple[str, ...], event: Inbound, ctx: Context) -> list[Reply] | None:
    return profile.unsubscribe(args[0], ctx)


def _kept_draft(args: tuple[str, ...], event: Inbound, ctx: Context) -> list[Reply] | None:
    return submission.on_draft_choice(event, ctx)


# Buttons that work from anywhere, by the prefix of their id; the rest answer the current step.
GLOBAL_CHOICES: dict[str, ChoiceAction] = {
    "lang": _choose_language,
    "consent": _read_privacy,
    "menu": _menu_item,
    "mine": _my_submissions,
    "set": _setting,
    "unsub": _unsubscribe,
    "draft": _kept_draft,
    "kept": _file_kept,
}


def _before_consent(choice: str) -> bool:
    """What a newcomer may press before consenting (anything else repeats the question)."""
    prefix, args = parse_choice(choice)
    return (prefix == "lang" and bool(args)) or (prefix, args) == ("consent", ("privacy",))


def _on_global_choice(event: Inbound, ctx: Context) -> list[Reply] | None:
    prefix, args = parse_choice(event.choice)
    action = GLOBAL_CHOICES.get(prefix)
    return action(args, event, ctx) if action and args else None


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
    flood, now = ctx.flood, ctx.now.timestamp()
    if now - flood.started > FLOOD_WINDOW.total_seconds():
        flood.started, flood.count = now, 0
    flood.count += 1
    limit = ctx.org.raw.limits.messages_per_minute
    if flood.count <= limit:
        return None
    return [Reply("errors.flood")] if flood.count == limit + 1 else []
