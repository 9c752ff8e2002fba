"""Onboarding (consent, unit, age group, school or workplace) and /settings, which reuses
the same questions."""

from bot.domain.i18n import LANGUAGES, text
from bot.domain.messages import Choice, Inbound, InputKind, Reply
from bot.domain.people import AGE_GROUPS, PUBLICATIONS
from bot.domain.units import MAX_MATCHES, search_units
from handlers import flows, menu, names
from handlers.context import Context
from handlers.flows import Flow, Outcome, Step, advance, end, stay
from handlers.steps import label, rows, text_of

TEXT = flows.Accept.TEXT

ONBOARDING = "onboarding"
SETTINGS = "settings"
MAX_WORKPLACE_CHARS = 200


def start_onboarding(ctx: Context) -> list[Reply]:
    """Greet a newcomer, with a one-tap switch to the other language, and ask for consent."""
    switch = tuple(
        Choice(f"lang:{code}", f"language.name_{code}")
        for code in LANGUAGES
        if code != ctx.language
    )
    greeting = Reply("welcome.greeting", {"organisation": ctx.organisation_name}, (switch,))
    return [greeting, *flows.start(ctx, ONBOARDING_FLOW)]


def _ask_consent(ctx: Context) -> list[Reply]:
    choices = [
        Choice("consent:yes", "consent.agree"),
        Choice("consent:privacy", "consent.read"),
        Choice("consent:no", "consent.decline"),
    ]
    return [Reply("consent.ask", choices=rows(choices))]


def _take_consent(event: Inbound, ctx: Context) -> Outcome | None:
    if event.choice == "consent:yes":
        ctx.profile.consented_at = ctx.now
        if not ctx.profile.subscriptions and not ctx.stopped:
            ctx.profile.subscriptions = ["announcements"]
        return advance(Reply("consent.thanks"))
    if event.choice == "consent:no":
        return end(Reply("consent.declined"))
    return None


def _ask_unit(ctx: Context) -> list[Reply]:
    return [Reply("unit.ask")]


def _type_a_name(event: Inbound, ctx: Context) -> Outcome:
    return stay(Reply("unit.type_name"))


def _unit_choices(units: list[tuple[str, str]]) -> tuple[tuple[Choice, ...], ...]:
    found = [Choice(f"unit:{code}", "common.label", label(name)) for code, name in units]
    return rows([*found, Choice("unit:retry", "unit.none_of_these")])


def _take_unit(event: Inbound, ctx: Context) -> Outcome | None:
    if event.choice == "unit:retry":
        return stay(*_ask_unit(ctx))
    if event.kind is InputKind.CHOICE:
        unit = ctx.org.unit(event.choice.removeprefix("unit:"))
        if unit is None:
            return None
        ctx.profile.unit_code = unit.code
        return advance(Reply("unit.chosen", {"unit": unit.name}))
    query = text_of(event)
    if query is None:
        return _type_a_name(event, ctx)
    matches, total = search_units(ctx.org.unit_names, query[:100])
    found = [(u.code, u.name) for u in matches]
    if not found:
        return stay(Reply("unit.no_match", {"query": query[:100]}))
    key = "unit.many" if total > MAX_MATCHES else "unit.pick"
    values = {"count": str(total), "shown": str(len(found))}
    return stay(Reply(key, values, choices=_unit_choices(found)))


def _ask_age(ctx: Context) -> list[Reply]:
    choices = [Choice(f"age:{group}", f"age.{group}") for group in AGE_GROUPS]
    return [Reply("age.ask", choices=rows([*choices, Choice("age:skip", "common.skip")], 3))]


def _take_age(event: Inbound, ctx: Context) -> Outcome | None:
    group = event.choice.removeprefix("age:")
    if group in AGE_GROUPS or group == "skip":
        ctx.profile.age_group = None if group == "skip" else group
        return advance()
    return None


def _ask_workplace(ctx: Context) -> list[Reply]:
    return [Reply("workplace.ask", choices=((Choice("work:skip", "common.skip"),),))]


def _take_workplace(event: Inbound, ctx: Context) -> Outcome | None:
    if event.choice == "work:skip":
        ctx.profile.workplace = None
        return advance()
    answer = text_of(event)
    if answer is None or event.kind is not InputKind.TEXT:
        return None
    if len(answer) > MAX_WORKPLACE_CHARS:
        return stay(Reply("workplace.too_long", {"max": str(MAX_WORKPLACE_CHARS)}))
    ctx.profile.workplace = answer
    return advance()


def _onboarded(ctx: Context) -> list[Reply]:
    return [Reply("onboarding.done"), menu.main_menu()]


def show_settings(ctx: Context) -> list[Reply]:
    """The person's settings, each with a button to change it."""
    profile = ctx.profile
    unit = ctx.org.unit(profile.unit_code) if profile.unit_code else None
    unset = text("common.not_set", ctx.language)
    on, off = text("common.on", ctx.language), text("common.off", ctx.language)
    values = {
        "unit": unit.name if unit else unset,
        "age": text(f"age.{profile.age_group}", ctx.language) if profile.age_group else unset,
        "workplace": profile.workplace or unset,
        "name": ", ".join(filter(None, (profile.given_name, profile.contact))) or unset,
        "anonymous": on if profile.always_anonymous else off,
        "topics": ", ".join(_topic_names(ctx, profile.subscriptions)) or off,
        "daily": on if "daily" in profile.subscriptions else off,
        "weekly": on if "weekly" in profile.subscriptions else off,
        "language": text(f"language.name_{ctx.language}", ctx.language),
    }
    choices = [
        Choice("set:unit", "settings.change_unit"),
        Choice("set:age", "settings.change_age"),
        Choice("set:workplace", "settings.change_workplace"),
        Choice("set:anonymous", "settings.toggle_anonymous"),
        Choice("set:name", "profile_name.settings_entry"),
        Choice("set:topics", "settings.choose_topics"),
        *(Choice(f"set:sub:{name}", f"settings.toggle_{name}") for name in PUBLICATIONS),
        Choice("set:language", "settings.change_language"),
        Choice("menu:show", "menu.back"),
    ]
    return [Reply("settings.summary", values, choices=rows(choices, 2))]


def on_settings_choice(event: Inbound, ctx: Context) -> list[Reply] | None:
    """A button under the settings summary."""
    what = event.choice.removeprefix("set:")
    if what in ("unit", "age", "workplace"):
        return flows.enter(ctx, SETTINGS_FLOW, what)
    if what == "name" or what.startswith("name:"):
        return names.on_settings_choice(what, ctx)
    if what == "anonymous":
        ctx.profile.always_anonymous = not ctx.profile.always_anonymous
        return show_settings(ctx)
    if what.startswith("sub:") and what[4:] in PUBLICATIONS:
        _toggle(ctx, what[4:])
        return show_settings(ctx)
    if what == "topics":
        return show_topics(ctx)
    if what.startswith("topic:") and ctx.org.raw.broadcasts.topic(what[6:]) is not None:
        _toggle(ctx, what[6:])
        return show_topics(ctx)
    return None


def _toggle(ctx: Context, name: str) -> None:
    """Subscribe or unsubscribe; subscribing to anything undoes /stop."""
    subscribed = ctx.profile.subscriptions
    ctx.profile.subscriptions = (
        [s for s in subscribed if s != name] if name in subscribed else [*subscribed, name]
    )
    if name in ctx.profile.subscriptions:
        ctx.stopped = False


def show_topics(ctx: Context) -> list[Reply]:
    """The broadcast topics, each with its on/off switch."""
    topics = ctx.org.raw.broadcasts.topics
    switches = [
        Choice(
            f"set:topic:{topic.code}",
            "topics.on" if topic.code in ctx.profile.subscriptions else "topics.off",
            {"name": str(getattr(topic, ctx.language))},
        )
        for topic in topics
    ]
    return [Reply("topics.ask", choices=rows([*switches, Choice("menu:settings", "topics.done")]))]


def unsubscribe(topic: str, ctx: Context) -> list[Reply]:
    """ "Hủy nhận tin" under a broadcast: no more of that topic, and how to have it again."""
    ctx.profile.subscriptions = [s for s in ctx.profile.subscriptions if s != topic]
    [name] = _topic_names(ctx, [topic]) or [topic]
    return [Reply("topics.unsubscribed", {"topic": name})]


def _topic_names(ctx: Context, codes: list[str]) -> list[str]:
    """The names of the broadcast topics among these codes, in config's order."""
    topics = ctx.org.raw.broadcasts.topics
    return [str(getattr(topic, ctx.language)) for topic in topics if topic.code in codes]


_QUESTIONS = (
    Step("unit", _ask_unit, _take_unit, frozenset({TEXT}), ("unit",), refuse=_type_a_name),
    Step("age", _ask_age, _take_age, choices=("age",)),
    Step("workplace", _ask_workplace, _take_workplace, frozenset({TEXT}), ("work",)),
)
ONBOARDING_FLOW = flows.register(
    Flow(
        ONBOARDING,
        (Step("consent", _ask_consent, _take_consent, choices=("consent",)), *_QUESTIONS),
        done=_onboarded,
    )
)
# A question from /settings: one answer, then the settings again.
SETTINGS_FLOW = flows.register(
    Flow(SETTINGS, _QUESTIONS, done=show_settings, editing=flows.always)
)
