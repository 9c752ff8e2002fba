"""Publishing good news: moderators' cards for stories and ideas (Approve, Edit text, Reject,
Hide photo), the daily post, and /pool and /digest. Authors hear of each decision."""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from bot.config import OrgConfig
from bot.domain import publishing as stories
from bot.domain.clock import show_date
from bot.domain.desk import DeskRecords, Staff
from bot.domain.i18n import text
from bot.domain.kinds import Role
from bot.domain.messages import Choice, Inbound, InputKind, Recipient, Reply
from bot.domain.publishing import (
    DAILY,
    DAILY_POST,
    WEEKLY,
    WEEKLY_POST,
    Credit,
    Figures,
    PublishingRecords,
    StoryState,
    StoryView,
    choose_daily,
    latest_weekly_slot,
    post_key,
    story_key,
    story_title,
    week_of,
)
from handlers.cards import STAFF_LANGUAGE
from handlers.context import Context
from handlers.steps import Step, current, goto, register, rows, text_of

FLOW = "moderate"
PREFIX = "m:"
POOL_LOW = 3
MAX_STORY_CHARS = 3000
MAX_REASON_CHARS = 500
TITLE_CHARS = 60
EXCERPT_CHARS = 140
WEEK = dt.timedelta(days=7)
PAGE_LANGUAGE = "vi"  # the public page and feed, like the Union's website, are Vietnamese
OPEN_STATES = (StoryState.PENDING, StoryState.APPROVED)

Action = Callable[[Inbound, Context, Staff], list[Reply]]


def handle(event: Inbound, ctx: Context) -> list[Reply] | None:
    """Moderators' buttons, steps and commands; None when the event is not for publishing."""
    staff = _moderator(ctx)
    if event.kind is InputKind.CHOICE and event.choice.startswith(PREFIX):
        if staff is None:
            return [Reply("desk.not_allowed")]
        return _on_button(event, ctx, staff)
    if staff is None:
        return None
    if event.kind is InputKind.COMMAND and event.command in COMMANDS:
        if ctx.flow == FLOW:
            _leave(ctx)
        return COMMANDS[event.command](event, ctx, staff)
    step = current(ctx) if ctx.flow == FLOW else None
    return step.take(event, ctx) if step is not None else None


def _moderator(ctx: Context) -> Staff | None:
    staff = ctx.desk.staff_of_person(ctx.person_id) if ctx.staff_code else None
    if staff is not None and (staff.has(Role.MODERATOR) or staff.has(Role.ADMIN)):
        return staff
    return None


# ---- cards -------------------------------------------------------------------------------


def story_cards(org: OrgConfig, desk: DeskRecords, story: StoryView) -> list[Reply]:
    """The story's card in every moderator's chat (edited in place as it changes)."""
    moderators = [s for s in desk.all_staff() if s.has(Role.MODERATOR)]
    chats = dict.fromkeys(chat for s in moderators for chat in desk.chats_of(s.code))
    return [_card(org, story, Recipient(channel, chat, STAFF_LANGUAGE)) for channel, chat in chats]


def new_story(ctx: Context, code: str) -> list[Reply]:
    """Cards for a story or idea just filed with consent to publish (none otherwise)."""
    story = ctx.publishing.story(code)
    return story_cards(ctx.org, ctx.desk, story) if story is not None else []


def _card(org: OrgConfig, story: StoryView, to: Recipient) -> Reply:
    lang = to.language
    values = {
        "code": story.code,
        "kind": text(f"kinds.{story.kind}", lang),
        "state": text(f"publish.state_{story.state}", lang),
        "credit": credit(org, story, lang),
        "photo": text(_photo_key(story), lang),
        "text": story.text,
    }
    buttons: list[Choice] = []
    if story.state in OPEN_STATES:
        if story.state is StoryState.PENDING:
            buttons.append(Choice(f"{PREFIX}ok:{story.code}", "publish.approve"))
        buttons.append(Choice(f"{PREFIX}edit:{story.code}", "publish.edit"))
        buttons.append(Choice(f"{PREFIX}no:{story.code}", "publish.reject"))
        if story.photo and not story.photo_hidden:
            buttons.append(Choice(f"{PREFIX}hide:{story.code}", "publish.hide_photo"))
    return Reply(
        "publish.card", values, choices=rows(buttons, 2), to=to, replaces=story_key(story.code)
    )


def _photo_key(story: StoryView) -> str:
    if story.photo is None:
        return "publish.photo_none"
    return "publish.photo_hidden" if story.photo_hidden else "publish.photo_shown"


def credit(org: OrgConfig, story: StoryView, language: str) -> str:
    """Who the post credits: the author's name, or a young member of their unit."""
    if story.credit is Credit.NAMED and story.author_name:
        return story.author_name
    unit = org.unit(story.unit_code or "")
    place = unit.name if unit else org.province_name
    return text("publish.credit_anonymous", language, unit=place)


# ---- decisions -----------------------------------------------------------------------------


def _on_button(event: Inbound, ctx: Context, staff: Staff) -> list[Reply]:
    parts = event.choice.split(":")
    action, code = (parts[1], parts[2]) if len(parts) == 3 else ("", "")
    story = ctx.publishing.story(code) if action in ACTIONS else None
    if story is None:
        return [Reply("errors.stale_choice")]
    if story.state not in OPEN_STATES:
        return [_too_late(ctx, code)]
    return ACTIONS[action](ctx, staff, story)


def _too_late(ctx: Context, code: str) -> Reply:
    """Someone decided first (or the story was posted): say what it is now."""
    story = ctx.publishing.story(code)
    state = text(f"publish.state_{story.state}", ctx.language) if story else "-"
    return Reply("publish.too_late", {"code": code, "state": state})


def _approve(ctx: Context, staff: Staff, story: StoryView) -> list[Reply]:
    if not stories.approve(ctx.publishing, story, by=staff.code, now=ctx.now):
        return [_too_late(ctx, story.code)]
    notice = _tell_author(ctx.desk, story.code, "publish.approved_notice", {})
    return [Reply("publish.done_approve", {"code": story.code}), *notice, *_refresh(ctx, story)]


def _hide(ctx: Context, staff: Staff, story: StoryView) -> list[Reply]:
    stories.hide_photo(ctx.publishing, story)
    return [Reply("publish.done_hide", {"code": story.code}), *_refresh(ctx, story)]


def _ask_for(step: str) -> Callable[[Context, Staff, StoryView], list[Reply]]:
    def ask(ctx: Context, staff: Staff, story: StoryView) -> list[Reply]:
        ctx.draft[FLOW] = {"code": story.code}
        return goto(ctx, FLOW, step)

    return ask


def _refresh(ctx: Context, story: StoryView) -> list[Reply]:
    fresh = ctx.publishing.story(story.code)
    return story_cards(ctx.org, ctx.desk, fresh) if fresh is not None else []


def _tell_author(desk: DeskRecords, code: str, key: str, values: dict[str, str]) -> list[Reply]:
    sender = desk.sender(code)
    return [Reply(key, {"code": code, **values}, to=sender)] if sender is not None else []


ACTIONS: dict[str, Callable[[Context, Staff, StoryView], list[Reply]]] = {
    "ok": _approve,
    "edit": _ask_for("text"),
    "no": _ask_for("reason"),
    "hide": _hide,
}


# ---- typed answers: the edited text, the reason for a rejection ------------------------------


def _story_in_flow(ctx: Context) -> StoryView | None:
    code = str(ctx.draft.get(FLOW, {}).get("code", ""))
    story = ctx.publishing.story(code)
    return story if story is not None and story.state in OPEN_STATES else None


def _ask_text(ctx: Context) -> list[Reply]:
    story = _story_in_flow(ctx)
    code = story.code if story else ""
    return [Reply("publish.ask_edit", {"code": code, "max": str(MAX_STORY_CHARS)})]


def _typed_answer(event: Inbound, ctx: Context) -> tuple[str, StoryView] | list[Reply] | None:
    """The moderator's typed answer and its story; a reply when the story moved on; None
    when nothing was typed. Either way, the question is over."""
    typed, story = text_of(event), _story_in_flow(ctx)
    if typed is None:
        return None
    _leave(ctx)
    return (typed, story) if story is not None else [Reply("errors.stale_choice")]


def _take_text(event: Inbound, ctx: Context) -> list[Reply] | None:
    answer = _typed_answer(event, ctx)
    if not isinstance(answer, tuple):
        return answer
    typed, story = answer
    if len(typed) > MAX_STORY_CHARS:
        return [Reply("publish.too_long", {"max": str(MAX_STORY_CHARS)})]
    stories.edit_text(ctx.publishing, story, text=typed)
    return [Reply("publish.done_edit", {"code": story.code}), *_refresh(ctx, story)]


def _ask_reason(ctx: Context) -> list[Reply]:
    story = _story_in_flow(ctx)
    return [Reply("publish.ask_reason", {"code": story.code if story else ""})]


def _take_reason(event: Inbound, ctx: Context) -> list[Reply] | None:
    answer = _typed_answer(event, ctx)
    if not isinstance(answer, tuple):
        return answer
    typed, story = answer
    reason = typed[:MAX_REASON_CHARS]
    if not stories.reject(ctx.publishing, story, reason=reason):
        return [_too_late(ctx, story.code)]
    notice = _tell_author(ctx.desk, story.code, "publish.rejected_notice", {"reason": reason})
    return [Reply("publish.done_reject", {"code": story.code}), *notice, *_refresh(ctx, story)]


def _leave(ctx: Context) -> None:
    ctx.draft.pop(FLOW, None)
    ctx.reset_dialogue()


# ---- the daily post ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Daily:
    """What one daily publication did: the story posted (if any) and the messages to queue."""

    story: StoryView | None
    replies: list[Reply]


def daily_post(org: OrgConfig, story: StoryView, language: str) -> Reply:
    """The good-news post of one story, in one language (without a recipient)."""
    values = {"text": story.text, "credit": credit(org, story, language)}
    # Not in the post's text: what a notification of it may say (Web Push).
    values |= {"code": story.code, "title": story_title(story.text)}
    photos = (story.shown_photo,) if story.shown_photo else ()
    return Reply("publish.daily_post", values, photos=photos)


def publish_daily(
    org: OrgConfig,
    records: PublishingRecords,
    desk: DeskRecords,
    now: dt.datetime,
    *,
    news_link: str | None,
) -> Daily:
    """Post the next story to the public channel and the daily subscribers, tell its author,
    and warn moderators when the pool runs low. The caller has claimed the period (an empty
    pool is checked first, so a day with nothing to post stays open)."""
    pool = records.pool()
    story = choose_daily(pool, records.last_published_unit())
    if story is None:
        return Daily(None, [])
    if not stories.publish(records, story, now=now):
        return Daily(None, [])  # withdrawn or posted meanwhile
    audience = _audience(org, records, DAILY)
    key = post_key(story.code)  # found again if its author asks to be forgotten
    posts = [replace(daily_post(org, story, to.language), to=to, replaces=key) for to in audience]
    notice = _tell_author(desk, story.code, *_published_notice(org, news_link, story.code))
    page_text = text("publish.daily_post", PAGE_LANGUAGE, **daily_post(org, story, "vi").values)
    page_post = {"text": page_text, "code": story.code, "title": story_title(story.text)}
    records.record_post(DAILY_POST, story.code, page_post, now)
    warning = _low_pool(org, records, desk, len(pool) - 1, now)
    fresh = records.story(story.code)
    cards = story_cards(org, desk, fresh) if fresh is not None else []
    return Daily(story, [*posts, *notice, *warning, *cards])


def _audience(org: OrgConfig, records: PublishingRecords, topic: str) -> list[Recipient]:
    """Where a post goes: each public outlet in its channel, and everyone subscribed to its
    topic."""
    targets = [(channel, chat, PAGE_LANGUAGE) for channel, chat in org.outlets]
    targets += records.subscribers(topic)
    return [Recipient(ch, chat, lang) for ch, chat, lang in targets]


# ---- the weekly digest ------------------------------------------------------------------------


def weekly_range(org: OrgConfig, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The week the latest weekly slot closes: [slot - 7 days, slot)."""
    weekly = org.raw.schedule.weekly_digest
    zone = ZoneInfo(org.raw.organisation.timezone)
    slot = latest_weekly_slot(now, weekly.day, weekly.time, zone)
    return slot - WEEK, slot


def weekly_post(
    org: OrgConfig, records: PublishingRecords, since: dt.datetime, until: dt.datetime, lang: str
) -> Reply:
    """The week's digest: its published stories (with their photos as an album), its best
    ideas, and its accountability figures."""
    zone = ZoneInfo(org.raw.organisation.timezone)
    stories = records.published_between(since, until)
    ideas = records.ideas_approved_between(since, until)
    none = text("publish.weekly_none", lang)
    values = {
        "start": show_date(since, zone),
        "end": show_date(until - dt.timedelta(seconds=1), zone),
        "stories": "\n".join(_story_line(org, s, lang) for s in stories) or none,
        "ideas": "\n".join(_idea_line(org, s, lang) for s in ideas) or none,
        "figures": "\n".join(_figure_line(f, lang) for f in records.figures(since, until)),
    }
    photos = tuple(s.shown_photo for s in stories if s.shown_photo)
    return Reply("publish.weekly_post", values, photos=photos)


def publish_weekly(
    org: OrgConfig, records: PublishingRecords, now: dt.datetime, since: dt.datetime
) -> list[Reply]:
    """The digest to the public channel and the weekly subscribers, kept for the page.
    The caller has claimed the week."""
    until = since + WEEK
    zone = ZoneInfo(org.raw.organisation.timezone)
    page = weekly_post(org, records, since, until, PAGE_LANGUAGE)
    week = week_of(until, zone)
    records.record_post(
        WEEKLY_POST, week, {"text": text(page.key, PAGE_LANGUAGE, **page.values)}, now
    )
    return [
        replace(weekly_post(org, records, since, until, to.language), to=to)
        for to in _audience(org, records, WEEKLY)
    ]


def _title_and_excerpt(body: str) -> tuple[str, str]:
    """A short title (the first line, cut at a word) and an excerpt of what follows."""
    words = " ".join(body.split())
    first = body.strip().split("\n", 1)[0].strip()
    title = first if len(first) <= TITLE_CHARS else first[:TITLE_CHARS].rsplit(" ", 1)[0]
    rest = words[len(" ".join(title.split())) :].strip()
    excerpt = rest[:EXCERPT_CHARS] + ("…" if len(rest) > EXCERPT_CHARS else "")
    return title, excerpt


def _story_line(org: OrgConfig, story: StoryView, lang: str) -> str:
    title, excerpt = _title_and_excerpt(story.text)
    values = {"title": title, "excerpt": excerpt, "credit": credit(org, story, lang)}
    return text("publish.weekly_story", lang, **values)


def _idea_line(org: OrgConfig, idea: StoryView, lang: str) -> str:
    title, _ = _title_and_excerpt(idea.text)
    return text("publish.weekly_idea", lang, title=title, credit=credit(org, idea, lang))


def _figure_line(figures: Figures, lang: str) -> str:
    delay = figures.median_first_answer
    if delay is None:
        median = text("publish.duration_none", lang)
    elif delay < dt.timedelta(days=2):
        median = text(
            "publish.duration_hours", lang, hours=str(round(delay.total_seconds() / 3600))
        )
    else:
        median = text("publish.duration_days", lang, days=f"{delay.total_seconds() / 86400:.1f}")
    values = {
        "kind": text(f"kinds.{figures.kind}", lang),
        "received": str(figures.received),
        "answered": str(figures.answered),
        "median": median,
    }
    return text("publish.weekly_figure", lang, **values)


def _published_notice(
    org: OrgConfig, news_link: str | None, code: str
) -> tuple[str, dict[str, str]]:
    """The author's notice, with a link to where the post can be seen when there is one."""
    if news_link:
        return "publish.published_notice", {"link": news_link.format(code)}
    # Only a Telegram outlet has a public @name today.
    named = next((chat for _, chat in org.outlets if chat.startswith("@")), None)
    if named is not None:
        return "publish.published_notice", {"link": f"https://t.me/{named[1:]}"}
    return "publish.published_notice_plain", {}


def _low_pool(
    org: OrgConfig, records: PublishingRecords, desk: DeskRecords, left: int, now: dt.datetime
) -> list[Reply]:
    """A warning to moderators, once a day, when fewer than POOL_LOW stories wait."""
    day = now.astimezone(ZoneInfo(org.raw.organisation.timezone)).date().isoformat()
    if left >= POOL_LOW or not records.claim("pool-low", day, now):
        return []
    moderators = [s for s in desk.all_staff() if s.has(Role.MODERATOR)]
    chats = dict.fromkeys(chat for s in moderators for chat in desk.chats_of(s.code))
    values = {"count": str(left), "min": str(POOL_LOW)}
    return [
        Reply("publish.pool_low", values, to=Recipient(channel, chat, STAFF_LANGUAGE))
        for channel, chat in chats
    ]


# ---- commands ----------------------------------------------------------------------------------


def _pool(event: Inbound, ctx: Context, staff: Staff) -> list[Reply]:
    pool = ctx.publishing.pool()
    codes = ", ".join(s.code for s in pool[:20]) or "-"
    return [Reply("publish.pool", {"count": str(len(pool)), "codes": codes})]


def _digest(event: Inbound, ctx: Context, staff: Staff) -> list[Reply]:
    args = [a.lower() for a in event.args]
    if len(args) < 2 or args[0] not in ("preview", "post") or args[1] not in (DAILY, WEEKLY):
        return [Reply("publish.usage_digest")]
    if args[1] == WEEKLY:
        return _weekly_command(ctx, post=args[0] == "post", forced=args[2:] == ["force"])
    if args[0] == "preview":
        story = choose_daily(ctx.publishing.pool(), ctx.publishing.last_published_unit())
        if story is None:
            return [Reply("publish.pool_empty")]
        return [Reply("publish.preview", {"code": story.code}), daily_post(ctx.org, story, "vi")]
    if not ctx.publishing.pool():
        return [Reply("publish.pool_empty")]
    day = ctx.now.astimezone(ctx.zone).date().isoformat()
    forced = len(args) > 2 and args[2] == "force"
    if not forced and not ctx.publishing.claim(DAILY, day, ctx.now):
        return [Reply("publish.already_posted", {"day": _show_day(day)})]
    done = publish_daily(
        ctx.org, ctx.publishing, ctx.desk, ctx.now, news_link=ctx.links.get("news")
    )
    if done.story is None:
        return [Reply("publish.pool_empty")]
    return [Reply("publish.posted", {"code": done.story.code}), *done.replies]


def _weekly_command(ctx: Context, *, post: bool, forced: bool) -> list[Reply]:
    """The digest of the week that ended at the latest weekly slot: shown, or posted once."""
    since, until = weekly_range(ctx.org, ctx.now)
    if not post:
        return [weekly_post(ctx.org, ctx.publishing, since, until, ctx.language)]
    week = week_of(until, ctx.zone)
    if not forced and not ctx.publishing.claim(WEEKLY, week, ctx.now):
        return [Reply("publish.already_posted_weekly", {"week": week})]
    posts = publish_weekly(ctx.org, ctx.publishing, ctx.now, since)
    return [Reply("publish.posted_weekly", {"week": week}), *posts]


def _show_day(day: str) -> str:
    year, month, date = day.split("-")
    return f"{date}/{month}/{year}"


COMMANDS: dict[str, Action] = {"pool": _pool, "digest": _digest}


register(FLOW, {"text": Step(_ask_text, _take_text), "reason": Step(_ask_reason, _take_reason)})
