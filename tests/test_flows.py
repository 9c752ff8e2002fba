"""Dialogues as literals, in memory: the runner, onboarding, /settings, /forget and the
buttons that work from anywhere (milliseconds each, no database or channel)."""

import dataclasses
import datetime as dt
from typing import Any, cast

import pytest

from bot.config import OrgConfig
from bot.domain.broadcast_ops import BroadcastRecords
from bot.domain.desk import DeskRecords
from bot.domain.i18n import LANGUAGES, text
from bot.domain.kinds import Kind
from bot.domain.messages import Inbound, InputKind, Media, Reply
from bot.domain.publishing import PublishingRecords
from bot.domain.tickets import AttachmentRef, StaffCopy, YouthRecords
from handlers import flows, profile, steps, youth
from handlers.context import Context
from handlers.drafts import SubmissionDraft
from handlers.flows import Accept, Flow, Outcome, Step, advance, stay

NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)


class ForgettingRecords:
    """The one youth record these flows use: erasure (it remembers being asked)."""

    def __init__(self) -> None:
        self.forgotten_at: dt.datetime | None = None

    def forget(self, now: dt.datetime, *, tombstone: str) -> list[StaffCopy]:
        """Note the erasure; nothing was copied to staff."""
        self.forgotten_at = now
        return []


def _context(org: OrgConfig, records: ForgettingRecords | None = None) -> Context:
    unused = cast(Any, None)  # the flows under test never reach the desk, stories or broadcasts
    return Context(
        language="en",
        first_contact=True,
        org=org,
        records=cast(YouthRecords, records or ForgettingRecords()),
        desk=cast(DeskRecords, unused),
        publishing=cast(PublishingRecords, unused),
        broadcasts=cast(BroadcastRecords, unused),
        now=NOW,
    )


def _event(kind: InputKind = InputKind.TEXT, **values: Any) -> Inbound:
    return Inbound("test", "e1", "u1", "u1", kind, **values)


def _press(choice: str) -> Inbound:
    return _event(InputKind.CHOICE, choice=choice)


def _keys(replies: list[Reply]) -> list[str]:
    return [reply.key for reply in replies]


# ---- the runner, on a flow of its own ---------------------------------------------------


def _asks(name: str) -> flows.Asker:
    return lambda ctx: [Reply(f"ask.{name}")]


def _take_word(event: Inbound, ctx: Context) -> Outcome | None:
    word = event.text.strip()
    ctx.draft[ctx.step or ""] = word
    return advance() if word != "again" else stay(Reply("try.again"))


def _take_pick(event: Inbound, ctx: Context) -> Outcome | None:
    return flows.jump(event.choice.removeprefix("pick:"))


def _skipping(ctx: Context) -> bool:
    return "skip" in ctx.draft


TEXT = frozenset({Accept.TEXT})
TOY = flows.register(
    Flow(
        "toy",
        (
            Step("first", _asks("first"), _take_word, TEXT),
            Step("optional", _asks("optional"), _take_word, TEXT, skip=_skipping),
            Step("files", _asks("files"), _take_word, frozenset({Accept.FILES})),
            Step("review", _asks("review"), _take_pick, choices=("pick",)),
        ),
        done=lambda ctx: [Reply("toy.done")],
        editing=lambda ctx: bool(ctx.draft.get("editing")),
        returns_to="review",
    )
)


def _answer(ctx: Context, event: Inbound) -> list[Reply] | None:
    step = steps.current(ctx)
    assert step is not None
    return step.take(event, ctx)


def test_the_runner_goes_to_the_next_step_and_asks_it(org_config: OrgConfig) -> None:
    ctx = _context(org_config)
    assert _keys(flows.start(ctx, TOY)) == ["ask.first"]
    assert _keys(_answer(ctx, _event(text="hello")) or []) == ["ask.optional"]
    assert (ctx.flow, ctx.step, ctx.draft["first"]) == ("toy", "optional", "hello")


def test_a_skipped_step_is_passed_over(org_config: OrgConfig) -> None:
    ctx = _context(org_config)
    ctx.draft["skip"] = True
    flows.start(ctx, TOY)
    assert _keys(_answer(ctx, _event(text="hello")) or []) == ["ask.files"]


def test_a_step_that_stays_keeps_the_person_there(org_config: OrgConfig) -> None:
    ctx = _context(org_config)
    flows.start(ctx, TOY)
    assert _keys(_answer(ctx, _event(text="again")) or []) == ["try.again"]
    assert ctx.step == "first"


def test_input_a_step_does_not_accept_is_not_taken(org_config: OrgConfig) -> None:
    ctx = _context(org_config)
    flows.start(ctx, TOY)
    assert _answer(ctx, _press("pick:first")) is None
    media = Media("f1", "photo", 10)
    assert _answer(ctx, _event(InputKind.MEDIA, media=media)) is None
    assert ctx.step == "first"
    assert not steps.takes_files("toy", "first")
    assert steps.takes_files("toy", "files")


def test_while_editing_an_answer_returns_to_where_the_edit_began(org_config: OrgConfig) -> None:
    ctx = _context(org_config)
    flows.enter(ctx, TOY, "review")
    ctx.draft["editing"] = True
    assert _keys(_answer(ctx, _press("pick:first")) or []) == ["ask.first"]
    assert _keys(_answer(ctx, _event(text="changed")) or []) == ["ask.review"]


def test_after_the_last_step_the_flow_is_done(org_config: OrgConfig) -> None:
    ctx = _context(org_config)
    flows.enter(ctx, TOY, "files")
    media = Media("f1", "photo", 10)
    assert _keys(_answer(ctx, _event(InputKind.MEDIA, media=media, text="x")) or []) == [
        "ask.review"
    ]
    short = flows.register(Flow("short", (TOY.step("first"),), lambda ctx: [Reply("toy.done")]))
    flows.start(ctx, short)
    assert _keys(_answer(ctx, _event(text="a")) or []) == ["toy.done"]
    assert (ctx.flow, ctx.step) == (None, None)


@pytest.mark.parametrize(
    ("choice", "parsed"),
    [
        ("mine:open:PA-2611-0001", ("mine", ("open", "PA-2611-0001"))),
        ("menu:complaint", ("menu", ("complaint",))),
        ("set:sub:daily", ("set", ("sub", "daily"))),
        ("lang:", ("lang", ("",))),
        ("draft", ("draft", ())),
    ],
)
def test_one_parser_splits_every_choice_id(choice: str, parsed: tuple[str, Any]) -> None:
    assert flows.parse_choice(choice) == parsed


# ---- onboarding and settings --------------------------------------------------------------


def _youth(ctx: Context, event: Inbound) -> list[str]:
    return _keys(youth.handle(event, ctx))


def test_onboarding_asks_consent_unit_age_workplace_then_shows_the_menu(
    org_config: OrgConfig,
) -> None:
    ctx = _context(org_config)
    assert _youth(ctx, _event(InputKind.COMMAND, command="start")) == [
        "welcome.greeting",
        "consent.ask",
    ]
    assert _youth(ctx, _press("consent:yes")) == ["consent.thanks", "unit.ask"]
    assert ctx.profile.consented_at == NOW
    assert ctx.profile.subscriptions == ["announcements"]
    assert _youth(ctx, _event(text="Gò Dầu")) == ["unit.pick"]
    unit = org_config.unit_names[0].code
    assert _youth(ctx, _press(f"unit:{unit}")) == ["unit.chosen", "age.ask"]
    assert _youth(ctx, _press("age:16-18")) == ["workplace.ask"]
    assert ctx.profile.age_group == "16-18"
    assert _youth(ctx, _event(text="Trường THPT")) == ["onboarding.done", "menu.ask"]
    assert (ctx.profile.unit_code, ctx.profile.workplace, ctx.flow) == (unit, "Trường THPT", None)


def test_onboarding_refuses_what_a_step_does_not_take(org_config: OrgConfig) -> None:
    ctx = _context(org_config)
    _youth(ctx, _event(InputKind.COMMAND, command="start"))
    assert _youth(ctx, _event(text="yes")) == ["errors.use_buttons", "consent.ask"]
    _youth(ctx, _press("consent:yes"))
    assert _youth(ctx, _press("unit:nowhere")) == ["errors.stale_choice", "unit.ask"]
    assert _youth(ctx, _event(InputKind.UNSUPPORTED)) == ["unit.type_name"]
    assert _youth(ctx, _event(text="zzzzqqq")) == ["unit.no_match"]
    assert _youth(ctx, _press("unit:retry")) == ["unit.ask"]
    _youth(ctx, _press(f"unit:{org_config.unit_names[0].code}"))
    assert _youth(ctx, _press("age:200")) == ["errors.stale_choice", "age.ask"]
    _youth(ctx, _press("age:skip"))
    assert _youth(ctx, _event(text="x" * 201)) == ["workplace.too_long"]
    assert _youth(ctx, _press("work:skip")) == ["onboarding.done", "menu.ask"]
    assert ctx.profile.age_group is None


def test_declining_consent_ends_onboarding(org_config: OrgConfig) -> None:
    ctx = _context(org_config)
    _youth(ctx, _event(InputKind.COMMAND, command="start"))
    assert _youth(ctx, _press("consent:no")) == ["consent.declined"]
    assert (ctx.flow, ctx.profile.consented_at) == (None, None)


def test_before_consent_only_privacy_and_language_buttons_work(org_config: OrgConfig) -> None:
    ctx = _context(org_config)
    _youth(ctx, _event(InputKind.COMMAND, command="start"))
    ctx.reset_dialogue()
    assert _youth(ctx, _press("menu:complaint")) == ["welcome.greeting", "consent.ask"]
    assert _youth(ctx, _press("lang:vi")) == ["language.changed", "consent.ask"]
    assert ctx.language == "vi"
    assert _youth(ctx, _press("consent:privacy")) == ["privacy.notice", "consent.ask"]


def _onboarded(org: OrgConfig, records: ForgettingRecords | None = None) -> Context:
    ctx = _context(org, records)
    ctx.profile.consented_at = NOW
    ctx.first_contact = False
    return ctx


def test_a_setting_changed_returns_to_the_settings(org_config: OrgConfig) -> None:
    ctx = _onboarded(org_config)
    assert _youth(ctx, _press("set:age")) == ["age.ask"]
    assert _youth(ctx, _press("age:19-24")) == ["settings.summary"]
    assert (ctx.profile.age_group, ctx.flow) == ("19-24", None)
    assert _youth(ctx, _press("set:workplace")) == ["workplace.ask"]
    assert _youth(ctx, _event(text="Xưởng may")) == ["settings.summary"]
    assert _youth(ctx, _press("set:language")) == ["language.ask"]
    assert _youth(ctx, _press("set:anonymous")) == ["settings.summary"]
    assert ctx.profile.always_anonymous


def test_forget_asks_first_and_erases_only_on_yes(org_config: OrgConfig) -> None:
    records = ForgettingRecords()
    ctx = _onboarded(org_config, records)
    assert _youth(ctx, _event(InputKind.COMMAND, command="forget")) == ["privacy.forget_ask"]
    assert _youth(ctx, _event(text="yes")) == ["errors.use_buttons", "privacy.forget_ask"]
    assert _youth(ctx, _press("forget:no")) == ["privacy.forget_kept"]
    assert (records.forgotten_at, ctx.flow) == (None, None)
    _youth(ctx, _event(InputKind.COMMAND, command="forget"))
    assert _youth(ctx, _press("forget:yes")) == ["privacy.forgotten"]
    assert (records.forgotten_at, ctx.flow, ctx.profile.consented_at) == (NOW, None, None)


def test_the_command_menu_is_the_command_table_each_with_its_description(
    org_config: OrgConfig,
) -> None:
    listed = youth.menu_commands()
    assert listed == tuple(youth.COMMANDS)
    assert listed[:4] == ("start", "menu", "mine", "settings")
    for language in LANGUAGES:
        assert all(text(f"commands.{name}", language) for name in listed)
    assert profile.SETTINGS_FLOW.editing(_context(org_config))


# ---- a submission, up to its preview ------------------------------------------------------

LONG_ENOUGH = "Khói từ lò gạch làm cả xóm khó thở."


def _at_text(org: OrgConfig, kind: str = "complaint") -> Context:
    ctx = _onboarded(org)
    assert _youth(ctx, _press(f"menu:{kind}"))[-1].startswith("submit.category_ask")
    category = org.raw.categories[Kind(kind)][0].code
    assert _youth(ctx, _press(f"cat:{category}")) == [f"submit.text_ask.{kind}"]
    return ctx


def test_a_complaint_asks_category_text_files_privacy_then_previews(org_config: OrgConfig) -> None:
    ctx = _onboarded(org_config)
    assert _youth(ctx, _press("cat:environment")) == ["errors.stale_choice"]
    assert _youth(ctx, _press("menu:complaint")) == ["submit.category_ask.complaint"]
    assert _youth(ctx, _press("cat:nowhere")) == [
        "errors.stale_choice",
        "submit.category_ask.complaint",
    ]
    assert _youth(ctx, _press("cat:environment")) == ["submit.text_ask.complaint"]
    assert _youth(ctx, _event(text="short")) == ["submit.too_short"]
    assert _youth(ctx, _event(text=LONG_ENOUGH)) == ["submit.attachments_ask"]
    assert _youth(ctx, _event(text="more words")) == ["submit.attachments_hint"]
    media = Media("f1", "photo", 10)
    assert _youth(ctx, _event(InputKind.MEDIA, media=media)) == ["submit.attachment_added"]
    assert _youth(ctx, _press("att:done")) == ["submit.anonymity_ask"]
    assert _youth(ctx, _press("pub:named")) == ["errors.stale_choice", "submit.anonymity_ask"]
    assert _youth(ctx, _press("anon:yes")) == ["submit.preview"]
    assert ctx.submission == SubmissionDraft(
        Kind.COMPLAINT,
        category="environment",
        text=LONG_ENOUGH,
        attachments=[AttachmentRef("photo", "f1", 10)],
        anonymous=True,
    )
    assert ctx.stored_draft()["submission"] == {
        "kind": "complaint",
        "category": "environment",
        "text": LONG_ENOUGH,
        "attachments": [{"media_kind": "photo", "file_ref": "f1", "size_bytes": 10}],
        "anonymous": True,
    }, "stored in the shape earlier versions wrote"
    assert _youth(ctx, _event(text="send it")) == ["submit.preview_hint"]


def test_a_file_before_the_text_is_kept_and_the_text_asked_again(org_config: OrgConfig) -> None:
    ctx = _at_text(org_config)
    media = Media("f1", "photo", 10)
    assert _youth(ctx, _event(InputKind.MEDIA, media=media)) == [
        "submit.attachment_added",
        "submit.text_after_file",
    ]
    assert ctx.step == "text"
    assert steps.takes_files(ctx.flow, ctx.step)


@pytest.mark.parametrize(
    ("kind", "always_anonymous"), [("confidential", False), ("question", True)]
)
def test_the_privacy_question_is_skipped_when_it_is_settled(
    org_config: OrgConfig, kind: str, always_anonymous: bool
) -> None:
    ctx = _onboarded(org_config)
    ctx.profile.always_anonymous = always_anonymous
    _youth(ctx, _press(f"menu:{kind}"))
    _youth(ctx, _press(f"cat:{org_config.raw.categories[Kind(kind)][0].code}"))
    _youth(ctx, _event(text=LONG_ENOUGH))
    assert _youth(ctx, _press("att:done")) == ["submit.preview"]
    assert _submission(ctx).anonymous is (True if always_anonymous else None)


def test_a_story_asks_about_publishing(org_config: OrgConfig) -> None:
    ctx = _at_text(org_config, "story")
    _youth(ctx, _event(text=LONG_ENOUGH))
    assert _youth(ctx, _press("att:done")) == ["submit.publish_ask"]
    assert _youth(ctx, _press("pub:anonymous")) == ["submit.preview"]
    assert _submission(ctx).publish == "anonymous"


def test_an_edit_from_the_preview_returns_to_the_preview(org_config: OrgConfig) -> None:
    ctx = _at_text(org_config)
    _youth(ctx, _event(text=LONG_ENOUGH))
    _youth(ctx, _press("att:done"))
    ctx.profile.given_name = "Lan"  # as if given before: no name question
    _youth(ctx, _press("anon:no"))
    assert _youth(ctx, _press("preview:edit")) == ["submit.edit_ask"]
    assert _youth(ctx, _press("edit:category")) == ["submit.category_ask.complaint"]
    assert _youth(ctx, _press("cat:food-safety")) == ["submit.preview"]
    _youth(ctx, _press("edit:text"))
    assert _youth(ctx, _event(text="Một câu khác đủ dài.")) == ["submit.preview"]
    assert _submission(ctx).category == "food-safety"


def test_leaving_sets_the_draft_aside_to_resume_where_it_was(org_config: OrgConfig) -> None:
    ctx = _at_text(org_config)
    _youth(ctx, _event(text=LONG_ENOUGH))
    assert _youth(ctx, _press("menu:settings")) == ["settings.summary"]
    assert (ctx.flow, _submission(ctx).step) == (None, "attachments")
    assert _youth(ctx, _press("menu:idea")) == ["draft.exists"]
    assert _youth(ctx, _press("draft:resume")) == ["submit.attachments_ask"]
    assert _youth(ctx, _event(InputKind.COMMAND, command="cancel")) == ["submit.cancelled"]
    assert _youth(ctx, _press("draft:discard")) == ["draft.discarded", "menu.ask"]
    assert "submission" not in ctx.draft


def test_a_long_silence_ends_the_dialogue_and_offers_the_draft(org_config: OrgConfig) -> None:
    ctx = _at_text(org_config)
    timeout = org_config.raw.limits.dialogue_timeout_minutes
    ctx.idle = dt.timedelta(minutes=timeout + 1)
    assert _youth(ctx, _event(text=LONG_ENOUGH)) == ["draft.expired"]
    assert (ctx.flow, _submission(ctx).step) == (None, "text")


def test_past_the_flood_limit_one_warning_then_silence(org_config: OrgConfig) -> None:
    ctx = _onboarded(org_config)
    limit = org_config.raw.limits.messages_per_minute
    said = [_youth(ctx, _event(text="hi")) for _ in range(limit + 2)]
    assert said[limit - 1] == ["fallback.received", "menu.ask"]
    assert said[limit:] == [["errors.flood"], []]
    ctx.now = NOW + youth.FLOOD_WINDOW + dt.timedelta(seconds=1)
    assert _youth(ctx, _event(text="hi")) == ["fallback.received", "menu.ask"]


def test_a_stored_dialogue_of_todays_shape_loads_and_stores_the_same(
    org_config: OrgConfig,
) -> None:
    stored = {
        "_flood": [NOW.timestamp() - 10, 3],
        "_language_chosen": True,
        "submission": {"kind": "idea", "category": "jobs", "attachments": [], "step": "text"},
        "desk": {"code": "PA-2611-0001", "action": "reply"},
    }
    ctx = dataclasses.replace(_onboarded(org_config), draft=dict(stored))
    assert (ctx.flood.count, ctx.language_chosen) == (3, True)
    assert set(ctx.draft) == {"desk"}, "the flood counter is not a draft; the submission typed"
    assert ctx.submission == SubmissionDraft(Kind.IDEA, category="jobs", step="text")
    assert ctx.stored_draft() == stored
    assert _youth(ctx, _press("draft:resume")) == ["submit.text_ask.idea"]
    assert _youth(ctx, _event(text="hello")) == ["submit.too_short"]
    assert ctx.stored_draft()["_flood"][1] == 4


def _submission(ctx: Context) -> SubmissionDraft:
    assert ctx.submission is not None
    return ctx.submission
