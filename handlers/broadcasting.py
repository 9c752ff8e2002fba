"""/broadcast and /broadcasts at the desk, on every channel: compose a message to many (text,
photo, link, audience, time), see it as each channel's recipients will with their counts,
confirm; list the recent ones and cancel one still to send. Admins reach everyone; unit
secretaries, where config allows, their own units."""

import datetime as dt
from collections.abc import Callable
from typing import Any

from bot.channels.render import fit_menus, pieces
from bot.domain.broadcast_ops import NewBroadcast, parse_when, too_long
from bot.domain.broadcasting import ANNOUNCEMENTS, Audience, audience_refusal
from bot.domain.clock import show_datetime
from bot.domain.desk import Staff
from bot.domain.i18n import LANGUAGES, text
from bot.domain.kinds import Role
from bot.domain.messages import Choice, Inbound, InputKind, Recipient, Reply
from bot.domain.people import AGE_GROUPS
from bot.domain.units import search_units
from handlers import flows
from handlers.context import Context
from handlers.flows import Flow, Outcome, Step, advance, end, stay
from handlers.steps import current, label, rows, text_of

FLOW = "broadcast"
DRAFT = "broadcast"
PREFIX = "bc"
PREVIEWED = f"{PREFIX}:previewed"  # a button of a preview
LIST_SIZE = 10
MAX_LINK_CHARS = 1000
EXCERPT_CHARS = 40
TEXT, FILES = flows.Accept.TEXT, flows.Accept.FILES
# The multiple choices of the audience: the draft's list, and the catalog's name of a value.
LISTS = {"age": "age.{}", "lang": "language.name_{}", "ch": "channels.{}"}


def handle(event: Inbound, ctx: Context) -> list[Reply] | None:
    """Broadcast commands, buttons and steps for those who may send; None for anyone else
    and anything else."""
    staff = ctx.desk.staff_of_person(ctx.person_id) if ctx.staff_code else None
    if staff is None or not _may_send(staff, ctx):
        asked = event.kind is InputKind.COMMAND and event.command in COMMANDS
        pressed = event.kind is InputKind.CHOICE and event.choice.startswith(f"{PREFIX}:")
        return (
            [Reply("broadcast.not_allowed")] if staff is not None and (asked or pressed) else None
        )
    if event.kind is InputKind.COMMAND:
        if event.command == "cancel" and ctx.flow == FLOW:
            _leave(ctx)
            return [Reply("broadcast.cancelled_draft")]
        command = COMMANDS.get(event.command)
        return command(event, ctx, staff) if command else None
    if event.choice == PREVIEWED:
        return [Reply("broadcast.preview_button")]
    if event.kind is InputKind.CHOICE and event.choice.startswith(f"{PREFIX}:stop:"):
        return _cancel(ctx, staff, event.choice.removeprefix(f"{PREFIX}:stop:"))
    pressed = event.kind is InputKind.CHOICE
    ours = pressed and event.choice.startswith(f"{PREFIX}:")
    if ctx.flow != FLOW:
        return [Reply("errors.stale_choice")] if ours else None
    if pressed and not ours:  # a card's button still works while composing
        return None
    step = current(ctx)
    replies = step.take(event, ctx) if step is not None else None
    return replies if replies is not None else [Reply("broadcast.use_buttons")]


def _may_send(staff: Staff, ctx: Context) -> bool:
    if staff.has(Role.ADMIN):
        return True
    return staff.has(Role.SECRETARY) and ctx.org.raw.broadcasts.secretaries_may_send


def _draft(ctx: Context) -> dict[str, Any]:
    draft: dict[str, Any] = ctx.draft.setdefault(DRAFT, {})
    return draft


def _leave(ctx: Context) -> None:
    ctx.reset_dialogue()
    ctx.draft.pop(DRAFT, None)


def _sender(ctx: Context) -> Staff | None:
    """The member composing, as they are now (roles may have changed mid-dialogue)."""
    staff = ctx.desk.staff_of_person(ctx.person_id) if ctx.staff_code else None
    return staff if staff is not None and _may_send(staff, ctx) else None


def _start(event: Inbound, ctx: Context, staff: Staff) -> list[Reply]:
    ctx.draft[DRAFT] = {}
    return flows.start(ctx, COMPOSE_FLOW)


# ---- the text, the photo, the link ------------------------------------------------------


def _limits(ctx: Context) -> dict[str, int]:
    return {name: can.max_text for name, can in ctx.channels.items()}


def _fits(ctx: Context, body: str) -> Reply | None:
    """A refusal naming the strictest channel a text is too long for, if any."""
    over = too_long(len(body), _limits(ctx))
    if over is None:
        return None
    channel, limit = over
    values = {"channel": text(f"channels.{channel}", ctx.language), "max": str(limit)}
    return Reply("broadcast.too_long", values | {"count": str(len(body))})


def _ask_text(ctx: Context) -> list[Reply]:
    return [Reply("broadcast.ask_text")]


def _take_text(event: Inbound, ctx: Context) -> Outcome | None:
    typed = text_of(event) if event.kind is InputKind.TEXT else None
    if typed is None:
        return stay(Reply("broadcast.empty_text"))
    refusal = _fits(ctx, typed)
    if refusal is not None:
        return stay(refusal)
    _draft(ctx)["text"] = typed
    return advance()


def _skip_button() -> tuple[tuple[Choice, ...], ...]:
    return ((Choice(f"{PREFIX}:skip", "common.skip"),),)


def _ask_photo(ctx: Context) -> list[Reply]:
    return [Reply("broadcast.ask_photo", choices=_skip_button())]


def _take_photo(event: Inbound, ctx: Context) -> Outcome | None:
    if event.choice == f"{PREFIX}:skip":
        _draft(ctx)["photo"] = None
        return advance()
    if event.media is None or event.media.media_kind != "photo":
        return stay(Reply("broadcast.photo_only", choices=_skip_button()))
    _draft(ctx)["photo"] = event.media.file_ref
    return advance()


def _ask_link(ctx: Context) -> list[Reply]:
    return [Reply("broadcast.ask_link", choices=_skip_button())]


def _take_link(event: Inbound, ctx: Context) -> Outcome | None:
    draft = _draft(ctx)
    if event.choice == f"{PREFIX}:skip":
        draft["link"] = None
        return advance()
    typed = text_of(event) or ""
    if not typed.startswith(("https://", "http://")) or " " in typed:
        return stay(Reply("broadcast.bad_link", choices=_skip_button()))
    if len(typed) > MAX_LINK_CHARS:
        return stay(Reply("broadcast.bad_link", choices=_skip_button()))
    refusal = _fits(ctx, f"{draft.get('text', '')}\n\n{typed}")
    if refusal is not None:
        return stay(refusal)
    draft["link"] = typed
    return advance()


# ---- the audience -----------------------------------------------------------------------


def _topics(ctx: Context) -> list[tuple[str, str]]:
    """Each topic's code and name in the member's language."""
    return [
        (t.code, t.en if ctx.language == "en" else t.vi) for t in ctx.org.raw.broadcasts.topics
    ]


def _ask_topic(ctx: Context) -> list[Reply]:
    choices = [
        Choice(f"{PREFIX}:topic:{code}", "common.label", label(name))
        for code, name in _topics(ctx)
    ]
    return [Reply("broadcast.ask_topic", choices=rows(choices, 2))]


def _take_topic(event: Inbound, ctx: Context) -> Outcome | None:
    code = event.choice.removeprefix(f"{PREFIX}:topic:")
    if code not in dict(_topics(ctx)):
        return None
    _draft(ctx)["topic"] = code
    return advance()


def _unit_names(ctx: Context, codes: list[str]) -> str:
    names = [unit.name for unit in map(ctx.org.unit, codes) if unit is not None]
    return ", ".join(names) or text("broadcast.all_units", ctx.language)


def _ask_units(ctx: Context) -> list[Reply]:
    staff = _sender(ctx)
    secretary = staff is not None and not staff.has(Role.ADMIN)
    # A secretary may send only to their own units: all of them are chosen to begin with.
    own = sorted(staff.units) if staff is not None and secretary else []
    chosen: list[str] = _draft(ctx).setdefault("units", own)
    offered = [*chosen]
    if staff is not None and secretary:
        offered += sorted(code for code in staff.units if code not in chosen)
    choices = [_unit_choice(ctx, code, chosen) for code in offered]
    done_key = "broadcast.units_done" if chosen else "broadcast.units_all"
    choices.append(Choice(f"{PREFIX}:units:done", done_key))
    values = {"units": _unit_names(ctx, chosen)}
    return [Reply("broadcast.ask_units", values, choices=rows(choices))]


def _unit_choice(ctx: Context, code: str, chosen: list[str]) -> Choice:
    unit = ctx.org.unit(code)
    mark = "✅ " if code in chosen else ""
    return Choice(
        f"{PREFIX}:unit:{code}", "common.label", label(f"{mark}{unit.name if unit else code}")
    )


def _take_units(event: Inbound, ctx: Context) -> Outcome | None:
    chosen: list[str] = _draft(ctx).setdefault("units", [])
    if event.choice == f"{PREFIX}:units:done":
        return _units_done(ctx, chosen)
    if event.kind is InputKind.CHOICE:
        unit = ctx.org.unit(event.choice.removeprefix(f"{PREFIX}:unit:"))
        if unit is None:
            return None
        _toggle(chosen, unit.code)
        return stay(*_ask_units(ctx))
    query = text_of(event)
    if query is None:
        return stay(*_ask_units(ctx))
    matches, _ = search_units(ctx.org.unit_names, query[:100])
    if not matches:
        return stay(Reply("unit.no_match", {"query": query[:100]}))
    choices = [_unit_choice(ctx, unit.code, chosen) for unit in matches]
    return stay(Reply("broadcast.units_found", choices=rows(choices)))


def _units_done(ctx: Context, chosen: list[str]) -> Outcome:
    staff = _sender(ctx)
    if staff is None:
        return end(Reply("broadcast.not_allowed"))
    refusal = _refusal(ctx, staff, _audience(ctx))
    return stay(Reply(refusal), *_ask_units(ctx)) if refusal else advance()


def _toggle(chosen: list[str], value: str) -> None:
    if value in chosen:
        chosen.remove(value)
    else:
        chosen.append(value)


def _options(ctx: Context, field: str) -> tuple[str, ...]:
    if field == "age":
        return AGE_GROUPS
    if field == "lang":
        return LANGUAGES
    return tuple(sorted(ctx.channels))


def _pick_step(name: str, field: str) -> Step:
    """A question of the audience where any number of values may be chosen (none: all)."""

    def ask(ctx: Context) -> list[Reply]:
        chosen: list[str] = _draft(ctx).setdefault(field, [])
        choices = [
            Choice(
                f"{PREFIX}:{field}:{value}",
                "broadcast.picked" if value in chosen else "broadcast.not_picked",
                {"label": text(LISTS[field].format(value), ctx.language)},
            )
            for value in _options(ctx, field)
        ]
        done = Choice(
            f"{PREFIX}:{field}:done", "broadcast.pick_done" if chosen else "broadcast.pick_all"
        )
        return [Reply(f"broadcast.ask_{name}", choices=rows([*choices, done], 2))]

    def take(event: Inbound, ctx: Context) -> Outcome | None:
        value = event.choice.removeprefix(f"{PREFIX}:{field}:")
        if value == "done":
            return advance()
        if value not in _options(ctx, field):
            return None
        _toggle(_draft(ctx).setdefault(field, []), value)
        return stay(*ask(ctx))

    return Step(name, ask, take, choices=(PREFIX,))


# ---- when, the preview and the confirmation ---------------------------------------------


def _ask_when(ctx: Context) -> list[Reply]:
    now = Choice(f"{PREFIX}:now", "broadcast.send_now")
    example = show_datetime(ctx.now + dt.timedelta(days=1), ctx.zone)
    return [Reply("broadcast.ask_when", {"example": _typed_form(example)}, ((now,),))]


def _typed_form(shown: str) -> str:
    """'07:30 22/11/2026' as staff type a time: '22/11/2026 07:30'."""
    clock, day = shown.split(" ")
    return f"{day} {clock}"


def _take_when(event: Inbound, ctx: Context) -> Outcome | None:
    draft = _draft(ctx)
    if event.choice == f"{PREFIX}:now":
        draft["at"] = None
        return advance()
    typed = text_of(event)
    if typed is None or event.kind is not InputKind.TEXT:
        return None
    at = parse_when(typed, ctx.zone)
    if at is None:
        return stay(Reply("broadcast.bad_time", {"typed": typed[:40]}))
    if at <= ctx.now:
        return stay(Reply("broadcast.past_time", {"at": show_datetime(at, ctx.zone)}))
    draft["at"] = at.isoformat()
    return advance()


def _audience(ctx: Context) -> Audience:
    draft = _draft(ctx)
    return Audience(
        units=tuple(draft.get("units", ())),
        languages=tuple(draft.get("lang", ())),
        topic=draft.get("topic", ANNOUNCEMENTS),
        age_groups=tuple(draft.get("age", ())),
        channels=tuple(draft.get("ch", ())),
    )


def _refusal(ctx: Context, staff: Staff, audience: Audience) -> str | None:
    return audience_refusal(
        roles=staff.roles if staff.active else frozenset(),
        staff_units=staff.units,
        audience=audience,
        secretaries_may_send=ctx.org.raw.broadcasts.secretaries_may_send,
    )


def _scheduled(ctx: Context) -> dt.datetime | None:
    at = _draft(ctx).get("at")
    return dt.datetime.fromisoformat(at) if at else None


def _counts(ctx: Context) -> dict[str, int]:
    audience = _audience(ctx)
    reached = [c for c in sorted(ctx.channels) if not audience.channels or c in audience.channels]
    return ctx.broadcasts.count(audience, reached)


def _ask_confirm(ctx: Context) -> list[Reply]:
    draft = _draft(ctx)
    counts = _counts(ctx)
    topic = draft.get("topic", ANNOUNCEMENTS)
    message = ctx.broadcasts.preview(
        draft["text"], draft.get("photo"), draft.get("link"), topic, ctx.language
    )
    previews = [
        _preview(ctx, channel, count, message) for channel, count in counts.items() if count
    ]
    at = _scheduled(ctx)
    values = {
        "audience": _described(ctx),
        "counts": _count_lines(ctx, counts),
        "total": str(sum(counts.values())),
        "when": show_datetime(at, ctx.zone) if at else text("broadcast.now", ctx.language),
    }
    if not any(counts.values()):
        return [Reply("broadcast.nobody", values)]
    send = Choice(f"{PREFIX}:send", "broadcast.confirm")
    quit_ = Choice(f"{PREFIX}:quit", "broadcast.discard")
    return [*previews, Reply("broadcast.confirm_ask", values, ((send, quit_),))]


def _preview(ctx: Context, channel: str, count: int, message: Any) -> Reply:
    """The message as one channel's recipients will see it: fitted to what it can show."""
    can = ctx.channels[channel]
    fitted = fit_menus([message], can, ctx.language).messages[0]
    shown = "\n— — —\n".join(piece.text for piece in pieces(fitted, can))
    values = {"channel": text(f"channels.{channel}", ctx.language), "count": str(count)}
    # The same buttons, but inert: pressing one here must not, say, unsubscribe the sender.
    buttons = tuple(
        tuple(Choice(PREVIEWED, "common.label", label(name)) for _, name in row)
        for row in fitted.choices
    )
    return Reply("broadcast.preview", values | {"text": shown}, buttons, photos=message.photos)


def _count_lines(ctx: Context, counts: dict[str, int]) -> str:
    return "\n".join(
        text(
            "broadcast.count_line",
            ctx.language,
            channel=text(f"channels.{c}", ctx.language),
            count=str(n),
        )
        for c, n in counts.items()
    )


def _described(ctx: Context) -> str:
    """The audience in words: topic, units, age groups, languages, channels."""
    audience = _audience(ctx)
    every = text("broadcast.every", ctx.language)

    def named(field: str, values: tuple[str, ...]) -> str:
        return ", ".join(text(LISTS[field].format(v), ctx.language) for v in values) or every

    return text(
        "broadcast.audience",
        ctx.language,
        topic=dict(_topics(ctx)).get(audience.topic, audience.topic),
        units=_unit_names(ctx, list(audience.units)),
        ages=named("age", audience.age_groups),
        languages=named("lang", audience.languages),
        channels=named("ch", audience.channels),
    )


def _take_confirm(event: Inbound, ctx: Context) -> Outcome | None:
    if event.choice == f"{PREFIX}:quit":
        _leave(ctx)
        return end(Reply("broadcast.cancelled_draft"))
    if event.choice != f"{PREFIX}:send":
        return None
    staff = _sender(ctx)
    audience = _audience(ctx)
    refusal = _refusal(ctx, staff, audience) if staff else "broadcast.not_allowed"
    if staff is None or refusal is not None:
        _leave(ctx)
        return end(Reply(refusal or "broadcast.not_allowed"))
    at = _scheduled(ctx)
    if at is not None and at <= ctx.now:
        return stay(Reply("broadcast.past_time", {"at": show_datetime(at, ctx.zone)}))
    draft = _draft(ctx)
    report_to = Recipient(event.channel, event.chat_id, ctx.language)
    new = NewBroadcast(
        draft["text"], audience, staff.code, report_to, at, draft.get("photo"), draft.get("link")
    )
    broadcast_id = ctx.broadcasts.create(new, ctx.now)
    _leave(ctx)
    when = show_datetime(at, ctx.zone) if at else text("broadcast.now", ctx.language)
    return end(Reply("broadcast.created", {"id": str(broadcast_id), "when": when}))


def _composed(ctx: Context) -> list[Reply]:
    return []


COMPOSE_FLOW = flows.register(
    Flow(
        FLOW,
        (
            Step("text", _ask_text, _take_text, frozenset({TEXT, FILES}), refuse=_take_text),
            Step("photo", _ask_photo, _take_photo, frozenset({TEXT, FILES}), (PREFIX,)),
            Step("link", _ask_link, _take_link, frozenset({TEXT}), (PREFIX,)),
            Step("topic", _ask_topic, _take_topic, choices=(PREFIX,)),
            Step("units", _ask_units, _take_units, frozenset({TEXT}), (PREFIX,)),
            _pick_step("ages", "age"),
            _pick_step("languages", "lang"),
            _pick_step("channels", "ch"),
            Step("when", _ask_when, _take_when, frozenset({TEXT}), (PREFIX,)),
            Step("confirm", _ask_confirm, _take_confirm, choices=(PREFIX,)),
        ),
        done=_composed,
    )
)


# ---- /broadcasts: the recent ones, and cancelling one -----------------------------------


def _list(event: Inbound, ctx: Context, staff: Staff) -> list[Reply]:
    if event.args[:1] == ("cancel",):
        return _cancel(ctx, staff, event.args[1] if len(event.args) > 1 else "")
    mine = None if staff.has(Role.ADMIN) else staff.code
    shown = ctx.broadcasts.recent(LIST_SIZE, created_by=mine)
    if not shown:
        return [Reply("broadcast.none_yet")]
    lines = [
        text(
            "broadcast.line",
            ctx.language,
            id=str(b.id),
            status=text(f"broadcast.status_{b.shown_status(ctx.now)}", ctx.language),
            when=show_datetime(b.scheduled_at, ctx.zone),
            sent=str(b.sent),
            planned=str(b.planned),
            failed=str(b.failed + b.blocked),
            excerpt=b.text[:EXCERPT_CHARS],
        )
        for b in shown
    ]
    stops = [
        Choice(f"{PREFIX}:stop:{b.id}", "broadcast.stop_button", {"id": str(b.id)})
        for b in shown
        if b.running
    ]
    return [Reply("broadcast.list", {"lines": "\n".join(lines)}, choices=rows(stops, 2))]


def _cancel(ctx: Context, staff: Staff, typed: str) -> list[Reply]:
    number = typed.lstrip("#")
    found = ctx.broadcasts.get(int(number)) if number.isdigit() and len(number) < 10 else None
    if found is None or not (staff.has(Role.ADMIN) or found.created_by == staff.code):
        return [Reply("broadcast.no_such", {"id": number[:10] or "?"})]
    if not found.running or not ctx.broadcasts.cancel(found.id, staff.code, ctx.now):
        return [Reply("broadcast.not_running", {"id": str(found.id)})]
    after = ctx.broadcasts.get(found.id) or found
    values = {"id": str(found.id), "sent": str(after.sent), "planned": str(after.planned)}
    replies = [Reply("broadcast.cancelled", values)]
    if after.report_to is not None:
        key = f"broadcast:{found.id}"
        replies.append(
            Reply("broadcast.report_cancelled", values, to=after.report_to, replaces=key)
        )
    return replies


COMMANDS: dict[str, Callable[[Inbound, Context, Staff], list[Reply]]] = {
    "broadcast": _start,
    "broadcasts": _list,
}
