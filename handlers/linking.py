"""/link and /unlink: one person across channels, only if they link their accounts (the rule
is bot/domain/linking.py's)."""

import datetime as dt
import secrets

from bot.domain.clock import show_datetime
from bot.domain.i18n import catalog, supported
from bot.domain.linking import (
    LinkOutcome,
    Tries,
    after,
    judge,
    may_try,
    new_code,
    read_code,
    retry_at,
    shown_code,
)
from bot.domain.messages import Inbound, Reply
from handlers import flows
from handlers.context import Context
from handlers.flows import Accept, Flow, Outcome, Step, end, stay

FLOW = "link"
# In the account's dialogue JSON: its failed codes this hour, [window start, count].
TRIES_KEY = "_link_tries"
FRESH_CODES = 10  # another live code with the same digits is rare; this many draws never clash
RETRY = frozenset({LinkOutcome.WRONG, LinkOutcome.EXPIRED, LinkOutcome.USED})


def on_link(event: Inbound, ctx: Context) -> list[Reply]:
    """/link CODE joins this account to the code's maker; /link alone gives a code to type
    on the other account, and waits for one from it."""
    if ctx.staff_code is not None:
        return [Reply("link.staff")]
    if event.args:
        code = read_code(" ".join(event.args))
        if code is None:
            return [Reply("link.not_a_code")]
        outcome, replies = _redeem(code, event, ctx)
        if outcome is LinkOutcome.LINKED and ctx.flow == FLOW:
            ctx.reset_dialogue()
        return replies
    return _give_code(ctx)


def on_unlink(ctx: Context) -> list[Reply]:
    """/unlink: this account stands alone again; the submissions stay with the others."""
    if ctx.staff_code is not None:
        return [Reply("link.staff")]
    if not ctx.records.unlink():
        return [Reply("link.unlink_alone")]
    return [Reply("link.unlinked")]


def _give_code(ctx: Context) -> list[Reply]:
    minutes = ctx.org.raw.limits.link_code_minutes
    expires = ctx.now + dt.timedelta(minutes=minutes)
    for _ in range(FRESH_CODES):
        code = new_code(secrets.randbelow)
        if ctx.records.new_link_code(code, expires=expires, now=ctx.now):
            break
    else:
        return [Reply("errors.internal")]
    ctx.go(FLOW, "code")
    values = {
        "code": shown_code(code),
        "minutes": str(minutes),
        "until": show_datetime(expires, ctx.zone),
    }
    return [Reply("link.code", values)]


def _redeem(code: str, event: Inbound, ctx: Context) -> tuple[LinkOutcome | None, list[Reply]]:
    """Type a code: link, or say why not, counting failures against this account (None:
    no tries left, the code is not even looked up)."""
    tries = _tries(ctx)
    if not may_try(tries, ctx.now, ctx.org.raw.limits.link_tries_per_hour):
        assert tries is not None
        return None, [Reply("link.too_many", {"time": show_datetime(retry_at(tries), ctx.zone)})]
    found = ctx.records.link_code(code)
    outcome = judge(found, person_id=ctx.person_id, staff=ctx.staff_code is not None, now=ctx.now)
    _keep_tries(ctx, after(outcome, tries, ctx.now))
    if outcome is not LinkOutcome.LINKED:
        return outcome, [Reply(f"link.{outcome}")]
    maker = ctx.records.join(code, now=ctx.now)
    told = {"channel": _channel_name(event.channel, maker.language)}
    return outcome, [
        Reply("link.linked", {"channel": _channel_name(maker.channel, ctx.language)}),
        Reply("link.joined", told, to=maker),
    ]


def _channel_name(channel: str, language: str) -> str:
    """A channel's name for people ('Telegram', 'web chat'); its own name if none is written."""
    return catalog(supported(language)).get(f"channels.{channel}", channel)


def _tries(ctx: Context) -> Tries | None:
    stored = ctx.draft.get(TRIES_KEY)
    if not stored:
        return None
    return Tries(dt.datetime.fromisoformat(stored[0]), int(stored[1]))


def _keep_tries(ctx: Context, tries: Tries) -> None:
    if tries.count:
        ctx.draft[TRIES_KEY] = [tries.started.isoformat(), tries.count]
    else:
        ctx.draft.pop(TRIES_KEY, None)


# ---- the step that waits for a code typed after /link --------------------------------------


def _ask_code(ctx: Context) -> list[Reply]:
    return [Reply("link.ask_code")]


def _take_code(event: Inbound, ctx: Context) -> Outcome | None:
    code = read_code(event.text)
    if code is None:
        return stay(Reply("link.not_a_code"))
    outcome, replies = _redeem(code, event, ctx)
    return stay(*replies) if outcome in RETRY else end(*replies)


def _nothing(ctx: Context) -> list[Reply]:
    return []


LINK_FLOW = flows.register(
    Flow(
        FLOW,
        (Step("code", _ask_code, _take_code, accepts=frozenset({Accept.TEXT})),),
        _nothing,
    )
)
