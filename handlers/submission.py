"""The five kinds of submission: category, text, attachments, privacy, preview, send."""

import datetime as dt
from dataclasses import replace

from bot.domain.clock import show_date
from bot.domain.i18n import text
from bot.domain.kinds import Kind
from bot.domain.messages import Choice, Inbound, InputKind, Reply
from bot.domain.sla import due_at
from bot.domain.tickets import AttachmentRef, Submission, sequence_name, ticket_code
from handlers import cards, flows, menu, names, publishing
from handlers.context import Context
from handlers.drafts import SubmissionDraft
from handlers.flows import Accept, Flow, Outcome, Step, advance, end, jump, stay
from handlers.steps import label, rows, text_of

FLOW = "submit"
NEXT_KIND = "next_kind"
NEXT_TEXT = "next_text"  # text typed at the menu, for the submission that waits on a draft
ANONYMITY_KINDS = (Kind.COMPLAINT, Kind.QUESTION)
PUBLISHING_KINDS = (Kind.STORY, Kind.IDEA)
PUBLISH_CHOICES = ("named", "anonymous", "no")


def _draft(ctx: Context) -> SubmissionDraft:
    assert ctx.submission is not None, "a submission step runs only with a draft"
    return ctx.submission


def _kind(ctx: Context) -> Kind:
    return _draft(ctx).kind


def has_draft(ctx: Context) -> bool:
    """Whether an unsent submission is kept."""
    return ctx.submission is not None


def start(ctx: Context, kind: Kind, typed: str | None = None) -> list[Reply]:
    """Begin a submission of one kind (with its text if already typed), or offer the unsent
    draft first."""
    if has_draft(ctx):
        ctx.draft[NEXT_KIND] = kind
        if typed is not None:
            ctx.draft[NEXT_TEXT] = typed
        return [_draft_offer(ctx, "draft.exists")]
    ctx.submission = SubmissionDraft(kind, text=typed)
    intro = [Reply("submit.confidential_notice", {"who": _inspection_names(ctx)})]
    return [*(intro if kind is Kind.CONFIDENTIAL else []), *flows.start(ctx, SUBMISSION)]


def set_aside(ctx: Context) -> None:
    """Leave any dialogue; a submission's draft is kept, with its step, to resume later."""
    if ctx.flow == FLOW:
        _draft(ctx).step = ctx.step
    ctx.reset_dialogue()


def cancel(ctx: Context, key: str = "submit.cancelled") -> list[Reply]:
    """Leave the submission, keeping its draft, and offer to resume or discard it."""
    set_aside(ctx)
    return [_draft_offer(ctx, key)]


def on_draft_choice(event: Inbound, ctx: Context) -> list[Reply] | None:
    """Resume or discard the kept draft."""
    if not has_draft(ctx):
        return None
    next_kind = ctx.draft.pop(NEXT_KIND, None)
    next_text = ctx.draft.pop(NEXT_TEXT, None)
    if event.choice == "draft:resume":
        return flows.enter(ctx, SUBMISSION, _draft(ctx).step or "category")
    if event.choice == "draft:discard":
        ctx.submission = None
        ctx.reset_dialogue()
        if next_kind in set(Kind):
            return [Reply("draft.discarded"), *start(ctx, Kind(next_kind), next_text)]
        return [Reply("draft.discarded"), menu.main_menu()]
    return None


def _draft_offer(ctx: Context, key: str) -> Reply:
    draft = _draft(ctx)
    preview = " ".join((draft.text or "").split())[:60]
    values = {"kind": text(f"kinds.{draft.kind}", ctx.language), "text": preview or "…"}
    choices = (
        (Choice("draft:resume", "draft.resume"),),
        (Choice("draft:discard", "draft.discard"),),
    )
    return Reply(key, values, choices=choices)


def _inspection_names(ctx: Context) -> str:
    rule = ctx.org.routes.inspection
    names = [m.name for code in rule.staff if (m := ctx.org.staff_member(code))]
    return ", ".join(names)


# ---- category ---------------------------------------------------------------------------


def _ask_category(ctx: Context) -> list[Reply]:
    kind = _kind(ctx)
    categories = ctx.org.raw.categories[kind]
    choices = [
        Choice(f"cat:{c.code}", "common.label", label(getattr(c, ctx.language)))
        for c in categories
    ]
    return [Reply(f"submit.category_ask.{kind}", choices=rows(choices, 2))]


def _take_category(event: Inbound, ctx: Context) -> Outcome | None:
    code = event.choice.removeprefix("cat:")
    if ctx.org.category(_kind(ctx), code) is None:
        return None
    _draft(ctx).category = code
    return advance()


# ---- text -------------------------------------------------------------------------------


def _ask_text(ctx: Context) -> list[Reply]:
    limits = ctx.org.raw.limits
    values = {"min": str(limits.text_min_chars), "max": str(limits.text_max_chars)}
    return [Reply(f"submit.text_ask.{_kind(ctx)}", values)]


def _take_text(event: Inbound, ctx: Context) -> Outcome | None:
    typed = text_of(event)
    replies: list[Reply] = []
    if event.kind in (InputKind.MEDIA, InputKind.LOCATION):
        replies = _attach(event, ctx)
        if typed is None:
            return stay(*replies, Reply("submit.text_after_file"))
    if typed is None and event.kind is InputKind.TEXT:
        typed = ""  # nothing visible (e.g. only zero-width spaces): too short, like any other
    if typed is None:
        return None
    problem = _check_length(typed, ctx)
    if problem is not None:
        return stay(*replies, problem)
    _draft(ctx).text = typed
    return advance(*replies)


def _check_length(typed: str, ctx: Context) -> Reply | None:
    limits = ctx.org.raw.limits
    count = str(len(typed))
    if len(typed) < limits.text_min_chars:
        return Reply("submit.too_short", {"min": str(limits.text_min_chars), "count": count})
    if len(typed) > limits.text_max_chars:
        return Reply("submit.too_long", {"max": str(limits.text_max_chars), "count": count})
    return None


# ---- attachments ------------------------------------------------------------------------


def _done_button() -> tuple[tuple[Choice, ...], ...]:
    return ((Choice("att:done", "submit.attachments_done"),),)


def _ask_attachments(ctx: Context) -> list[Reply]:
    limits = ctx.org.raw.limits
    values = {
        "max": str(limits.attachments_per_submission),
        "mb": str(limits.attachment_max_mb),
        "count": str(len(_draft(ctx).attachments)),
    }
    return [Reply("submit.attachments_ask", values, choices=_done_button())]


def _take_attachments(event: Inbound, ctx: Context) -> Outcome | None:
    if event.choice == "att:done":
        return advance()
    if event.kind in (InputKind.MEDIA, InputKind.LOCATION):
        return stay(*_attach(event, ctx))
    if event.kind is InputKind.TEXT and event.text.strip():
        return stay(Reply("submit.attachments_hint", choices=_done_button()))
    return None


def attachment_of(event: Inbound, ctx: Context) -> AttachmentRef | Reply | None:
    """The file or location an event carries, a refusal when it is over the size limit, or
    None when it carries neither."""
    if event.media is not None:
        media, limit_mb = event.media, ctx.org.raw.limits.attachment_max_mb
        if media.size_bytes is not None and media.size_bytes > limit_mb * 1024 * 1024:
            return Reply("submit.attachment_too_big", {"mb": str(limit_mb)})
        return AttachmentRef(media.media_kind, media.file_ref, media.size_bytes)
    if event.location is not None:
        return AttachmentRef("location", "{:.6f},{:.6f}".format(*event.location))
    return None


def _attach(event: Inbound, ctx: Context) -> list[Reply]:
    """Keep one file or location on the draft, within the limits."""
    limits = ctx.org.raw.limits
    attachments = _draft(ctx).attachments
    if len(attachments) >= limits.attachments_per_submission:
        values = {"max": str(limits.attachments_per_submission)}
        return [Reply("submit.attachments_full", values, choices=_done_button())]
    found = attachment_of(event, ctx)
    if isinstance(found, Reply):
        return [replace(found, choices=_done_button())]
    if found is not None:
        attachments.append(found)
    values = {"count": str(len(attachments)), "max": str(limits.attachments_per_submission)}
    return [Reply("submit.attachment_added", values, choices=_done_button())]


# ---- privacy: anonymity or consent to publish --------------------------------------------


def _ask_privacy(ctx: Context) -> list[Reply]:
    kind = _kind(ctx)
    if kind in PUBLISHING_KINDS:
        choices = [Choice(f"pub:{p}", f"submit.publish_{p}") for p in PUBLISH_CHOICES]
        return [Reply("submit.publish_ask", choices=rows(choices))]
    choices = [Choice("anon:no", "submit.with_name"), Choice("anon:yes", "submit.anonymous")]
    return [Reply("submit.anonymity_ask", choices=rows(choices))]


def _take_privacy(event: Inbound, ctx: Context) -> Outcome | None:
    draft = _draft(ctx)
    if event.choice in ("anon:yes", "anon:no") and _kind(ctx) in ANONYMITY_KINDS:
        draft.anonymous = event.choice == "anon:yes"
    elif event.choice.removeprefix("pub:") in PUBLISH_CHOICES and _kind(ctx) in PUBLISHING_KINDS:
        draft.publish = event.choice.removeprefix("pub:")
    else:
        return None
    if _sent_named(ctx) and names.known_name(ctx, event.display_name) is None:
        return jump("name")
    return advance()


def _sent_named(ctx: Context) -> bool:
    draft = _draft(ctx)
    if _kind(ctx) in ANONYMITY_KINDS:
        return draft.anonymous is False
    return _kind(ctx) in PUBLISHING_KINDS and draft.publish == "named"


def _take_name(event: Inbound, ctx: Context) -> Outcome | None:
    """Their name for this submission, or sending anonymously after all."""
    if event.choice == names.SEND_ANONYMOUSLY:
        draft = _draft(ctx)
        if _kind(ctx) in ANONYMITY_KINDS:
            draft.anonymous = True
        else:
            draft.publish = "anonymous"
        return advance()
    return names.take_name(event, ctx, "contact")


def _has_text(ctx: Context) -> bool:
    """The text was typed before the flow began (at the main menu): not asked again."""
    return _draft(ctx).text is not None


def _privacy_settled(ctx: Context) -> bool:
    """No privacy question: a confidential report, or someone always anonymous (which the
    draft then records, as if they had answered)."""
    kind = _kind(ctx)
    if kind in ANONYMITY_KINDS and ctx.profile.always_anonymous:
        _draft(ctx).anonymous = True
        return True
    return kind not in ANONYMITY_KINDS and kind not in PUBLISHING_KINDS


# ---- preview and send -------------------------------------------------------------------


def _privacy_line(ctx: Context) -> str:
    draft, kind, language = _draft(ctx), _kind(ctx), ctx.language
    if kind is Kind.CONFIDENTIAL:
        return text("submit.line_confidential", language, who=_inspection_names(ctx))
    if kind in PUBLISHING_KINDS:
        choice = text(f"submit.publish_{draft.publish or 'no'}", language)
    else:
        choice = text("submit.anonymous" if draft.anonymous else "submit.with_name", language)
    return names.privacy_line(ctx, choice, None) if _sent_named(ctx) else choice


def _ask_preview(ctx: Context) -> list[Reply]:
    draft, kind = _draft(ctx), _kind(ctx)
    category = ctx.org.category(kind, draft.category or "")
    unit = ctx.org.unit(ctx.profile.unit_code or "")
    values = {
        "kind": text(f"kinds.{kind}", ctx.language),
        "category": getattr(category, ctx.language) if category else "",
        "unit": unit.name if unit else text("common.not_set", ctx.language),
        "attachments": str(len(draft.attachments)),
        "privacy": _privacy_line(ctx),
        "text": draft.text or "",
    }
    choices = (
        (Choice("preview:send", "submit.send"),),
        (Choice("preview:edit", "submit.edit"), Choice("preview:cancel", "submit.cancel")),
    )
    return [Reply("submit.preview", values, choices=choices)]


def _edit_menu(ctx: Context) -> list[Reply]:
    items = ["text", "category", "attachments"]
    if _kind(ctx) in ANONYMITY_KINDS + PUBLISHING_KINDS:
        items.append("privacy")
    choices = [Choice(f"edit:{item}", f"submit.edit_{item}") for item in items]
    return [Reply("submit.edit_ask", choices=rows(choices, 2))]


def _take_preview(event: Inbound, ctx: Context) -> Outcome | None:
    if event.choice == "preview:send":
        return end(*_send(event, ctx))
    if event.choice == "preview:edit":
        return stay(*_edit_menu(ctx))
    if event.choice == "preview:cancel":
        return end(*cancel(ctx))
    what = event.choice.removeprefix("edit:")
    if event.choice.startswith("edit:") and what in ("text", "category", "attachments", "privacy"):
        _draft(ctx).editing = True
        return jump(what)
    if event.kind is InputKind.TEXT and event.text.strip():
        return stay(Reply("submit.preview_hint"))
    return None


def _editing(ctx: Context) -> bool:
    """Whether the person came from the preview to change one answer."""
    return _draft(ctx).editing


def _send(event: Inbound, ctx: Context) -> list[Reply]:
    limits = ctx.org.raw.limits
    if ctx.records.submissions_since(ctx.now - dt.timedelta(days=1)) >= limits.submissions_per_day:
        set_aside(ctx)
        return [Reply("submit.limit_reached", {"max": str(limits.submissions_per_day)})]
    submission = _submission(event, ctx)
    ctx.records.submit(submission, now=ctx.now)
    ctx.submission = None
    ctx.reset_dialogue()
    receipt = Reply(
        f"submit.received.{submission.kind}",
        {"code": submission.code, "due": show_date(submission.due_at, ctx.zone)},
    )
    moderation = publishing.new_story(ctx, submission.code)
    return [
        receipt,
        *_staff_cards(ctx, submission, moderation),
        *moderation,
        menu.main_menu("menu.again"),
    ]


def _staff_cards(ctx: Context, submission: Submission, moderation: list[Reply]) -> list[Reply]:
    """The desk's cards, except for a story offered for publication: its one card is the
    moderators'. A story kept private, or with no moderator to see it, goes to the desk
    as before (someone should read it); an idea is also a proposal the desk answers."""
    if submission.kind is Kind.STORY and moderation:
        return []
    return cards.new_ticket(ctx.org, ctx.desk, submission.code, ctx.now)


def _submission(event: Inbound, ctx: Context) -> Submission:
    draft, kind = _draft(ctx), _kind(ctx)
    sequence = sequence_name(kind, ctx.now.astimezone(ctx.zone).date())
    sla = ctx.org.raw.sla
    return Submission(
        code=ticket_code(sequence, ctx.records.next_number(sequence)),
        kind=kind,
        category=draft.category or "",
        unit_code=ctx.profile.unit_code,
        text=draft.text or "",
        attachments=tuple(draft.attachments),
        anonymous=bool(draft.anonymous) or kind is Kind.CONFIDENTIAL,
        publish=draft.publish,
        language=ctx.language,
        display_name=event.display_name,
        due_at=due_at(ctx.now, sla.working_days[kind], set(sla.holidays), ctx.zone),
    )


def _nothing(ctx: Context) -> list[Reply]:
    return []


TEXT, FILES, LOCATION = Accept.TEXT, Accept.FILES, Accept.LOCATION
SUBMISSION = flows.register(
    Flow(
        FLOW,
        (
            Step("category", _ask_category, _take_category, choices=("cat",)),
            Step(
                "text", _ask_text, _take_text, frozenset({TEXT, FILES, LOCATION}), skip=_has_text
            ),
            Step(
                "attachments",
                _ask_attachments,
                _take_attachments,
                frozenset({TEXT, FILES, LOCATION}),
                ("att",),
            ),
            Step(
                "privacy",
                _ask_privacy,
                _take_privacy,
                choices=("anon", "pub"),
                skip=_privacy_settled,
            ),
            # Reached only from the privacy step, when a named sender has not given a name.
            Step("name", names.ask_name, _take_name, frozenset({TEXT}), ("name",), flows.always),
            Step(
                "contact",
                names.ask_contact,
                names.take_contact,
                frozenset({TEXT}),
                ("contact",),
                flows.always,
            ),
            Step("preview", _ask_preview, _take_preview, frozenset({TEXT}), ("preview", "edit")),
        ),
        done=_nothing,  # the preview's send or cancel ends it
        editing=_editing,
        returns_to="preview",
    )
)
