"""Scheduled work: deadline reminders and escalations, closing silent submissions, the
morning summary of each staff member's queue, the daily good news, and retention. Time is
always an argument; each message is claimed in the database before it is queued, so a restart
or a second run repeats nothing."""

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.channels.base import Capabilities
from bot.config import OrgConfig
from bot.dispatch import queue_replies
from bot.domain.clock import show_date
from bot.domain.desk import Change, Staff, TicketView, can_see
from bot.domain.kinds import Kind, Role
from bot.domain.lifecycle import Event, Status, next_status
from bot.domain.messages import Choice, Recipient, Reply
from bot.domain.publishing import DAILY, WEEKLY, latest_slot, period_of, week_of
from bot.domain.retention import cutoffs
from bot.domain.sla import Nudge, is_working_day
from bot.uploads import Uploads
from handlers import cards, publishing
from storage import claims, retention
from storage.db import Database, Session
from storage.desk import SqlDeskRecords
from storage.publishing import SqlPublishingRecords

log = logging.getLogger(__name__)
SYSTEM = Staff(code="cau-noi", name="Cầu Nối", roles=frozenset())
SCAN_LIMIT = 5000
# Deadlines run while staff hold the submission, not while they wait for the sender.
RUNNING = (Status.NEW, Status.ASSIGNED)
SILENT = (Status.ANSWERED, Status.WAITING)
NUDGE_KEYS = {
    Nudge.REMIND: "desk.reminder",
    Nudge.ESCALATE: "desk.escalation",
    Nudge.ESCALATE_ADMIN: "desk.escalation_admin",
}


@dataclass(frozen=True)
class SweepResult:
    """What one deadline sweep did."""

    nudged: int
    closed: int


class DeskJobs:
    """The desk's scheduled jobs, each one database transaction."""

    def __init__(
        self,
        *,
        db: Database,
        config: OrgConfig,
        on_outbox: Callable[[], None],
        capabilities: Mapping[str, Capabilities] | None = None,
    ) -> None:
        self._db = db
        self._config = config
        self._on_outbox = on_outbox
        self._capabilities = capabilities  # each channel's, to fit the replies queued

    async def sweep(self, now: dt.datetime) -> SweepResult:
        """Remind, escalate and auto-close as of `now`."""
        result = await self._db.run(lambda session: self._sweep(session, now))
        self._on_outbox()
        return result

    async def morning_summary(self, now: dt.datetime) -> int:
        """Send each staff member the summary of their queue (working days only)."""
        sent = await self._db.run(lambda session: self._summaries(session, now))
        self._on_outbox()
        return sent

    # ---- the sweep ------------------------------------------------------------------

    def _sweep(self, session: Session, now: dt.datetime) -> SweepResult:
        desk = SqlDeskRecords(session=session)
        replies: list[Reply] = []
        nudged = closed = 0
        silence = dt.timedelta(days=self._config.raw.desk.auto_close_days)
        for ticket in desk.open_tickets(None, SCAN_LIMIT):
            if ticket.status in RUNNING and ticket.due_at is not None:
                found = self._nudge(session, desk, ticket, now)
                nudged += bool(found)
                replies += found
            elif ticket.status in SILENT and now - ticket.updated_at >= silence:
                replies += self._auto_close(desk, ticket, now)
                closed += 1
        queue_replies(session, replies, now=now, capabilities=self._capabilities)
        return SweepResult(nudged, closed)

    def _nudge(
        self, session: Session, desk: SqlDeskRecords, ticket: TicketView, now: dt.datetime
    ) -> list[Reply]:
        assert ticket.due_at is not None
        policy = self._config.nudges
        latest = policy.latest(ticket.due_at, now)
        if latest is None:
            return []
        period = f"{ticket.code}@{ticket.due_at:%y%m%d}"
        # Claim every nudge up to the latest; the earlier ones are superseded, not sent late.
        order = [nudge for nudge, _ in policy.moments(ticket.due_at)]
        claimed = [
            claims.claim_publication(session=session, kind=nudge.value, period=period, now=now)
            for nudge in order[: order.index(latest) + 1]
        ]
        if not claimed[-1]:
            return []
        chats = self._nudge_chats(desk, ticket, latest)
        zone = ZoneInfo(self._config.raw.organisation.timezone)
        unit = self._config.unit(ticket.unit_code or "")
        values = {
            "code": ticket.code,
            "unit": unit.name if unit else "-",
            "due": show_date(ticket.due_at, zone),
            "assignee": ticket.assignee_name or "-",
        }
        open_card = ((Choice(f"{cards.PREFIX}open:{ticket.code}", "desk.button_thread"),),)
        return [
            Reply(NUDGE_KEYS[latest], values, open_card, Recipient(ch, chat, cards.STAFF_LANGUAGE))
            for ch, chat in chats
        ]

    def _nudge_chats(
        self, desk: SqlDeskRecords, ticket: TicketView, nudge: Nudge
    ) -> list[tuple[str, str]]:
        """Reminders go to the holder (or the routed chats); escalations to the unit's
        secretaries, then the admins. Confidential reports stay with the inspection committee."""
        if nudge is Nudge.REMIND:
            holder = desk.staff(ticket.assignee_code) if ticket.assignee_code else None
            if holder is not None and can_see(holder, ticket):
                return desk.chats_of(holder.code)
            return cards.route_chats(self._config, desk, ticket)
        staff = desk.all_staff()
        if ticket.kind is Kind.CONFIDENTIAL:
            chosen = [s for s in staff if s.has(Role.INSPECTION)]
        else:
            secretaries = [
                s for s in staff if s.has(Role.SECRETARY) and ticket.unit_code in s.units
            ]
            admins = [s for s in staff if s.has(Role.ADMIN)]
            chosen = secretaries if nudge is Nudge.ESCALATE and secretaries else admins
        return list(dict.fromkeys(chat for s in chosen for chat in desk.chats_of(s.code)))

    def _auto_close(
        self, desk: SqlDeskRecords, ticket: TicketView, now: dt.datetime
    ) -> list[Reply]:
        status = next_status(ticket.status, Event.AUTO_CLOSE, assigned=True)
        if not desk.change(ticket.code, expected=ticket.status, change=Change(status), now=now):
            return []
        desk.audit(
            ticket.code,
            actor=SYSTEM,
            action=Event.AUTO_CLOSE.value,
            before={"status": ticket.status.value},
            after={"status": status.value},
            now=now,
        )
        org = self._config
        return [
            *cards.refresh_cards(org, desk, ticket.code, now),
            *cards.notify_sender(org, desk, ticket.code, "notify.auto_closed", {}, status=status),
        ]

    # ---- the morning summary --------------------------------------------------------

    def _summaries(self, session: Session, now: dt.datetime) -> int:
        local_day = now.astimezone(ZoneInfo(self._config.raw.organisation.timezone)).date()
        if not is_working_day(local_day, frozenset(self._config.raw.sla.holidays)):
            return 0
        desk = SqlDeskRecords(session=session)
        tickets = [cards.with_routes(self._config, t) for t in desk.open_tickets(None, SCAN_LIMIT)]
        replies: list[Reply] = []
        for staff in desk.all_staff():
            chats = desk.chats_of(staff.code)
            seen = [t for t in tickets if can_see(staff, t)]
            mine = [t for t in seen if t.assignee_code == staff.code]
            free = [t for t in seen if t.assignee_code is None]
            overdue = [t for t in mine + free if t.due_at is not None and t.due_at < now]
            if not chats or not (mine or free):
                continue
            period = f"{local_day:%y%m%d}-{staff.person_id}"
            if not claims.claim_publication(
                session=session, kind="summary", period=period, now=now
            ):
                continue
            values = {"mine": str(len(mine)), "free": str(len(free)), "overdue": str(len(overdue))}
            replies += [
                Reply("desk.summary", values, to=Recipient(ch, chat, cards.STAFF_LANGUAGE))
                for ch, chat in chats
            ]
        queue_replies(session, replies, now=now, capabilities=self._capabilities)
        return len(replies)


class PublishingJobs:
    """The daily good-news post and the weekly digest: once per period, caught up after an
    outage within the grace, else skipped and logged."""

    def __init__(
        self,
        *,
        db: Database,
        config: OrgConfig,
        on_outbox: Callable[[], None],
        links: Mapping[str, str],
        capabilities: Mapping[str, Capabilities] | None = None,
    ) -> None:
        self._db = db
        self._config = config
        self._on_outbox = on_outbox
        self._links = links
        self._capabilities = capabilities  # each channel's, to fit the replies queued

    async def daily(self, now: dt.datetime) -> str | None:
        """Post the good news of the latest daily slot, unless it was posted or is too old;
        return the code of the story posted."""
        posted = await self._db.run(lambda session: self._daily(session, now))
        self._on_outbox()
        return posted

    def _daily(self, session: Session, now: dt.datetime) -> str | None:
        zone = ZoneInfo(self._config.raw.organisation.timezone)
        schedule = self._config.raw.schedule
        slot = latest_slot(now, schedule.daily_good_news, zone)
        period = period_of(slot, zone)
        records = SqlPublishingRecords(session=session)
        if now - slot > dt.timedelta(hours=schedule.catch_up_hours):
            if records.claim(DAILY, period, now, status="skipped"):
                log.warning("daily good news missed its slot; skipped", extra={"day": period})
            return None
        if not records.pool():
            log.info("daily good news: no approved story is waiting", extra={"day": period})
            return None
        if not records.claim(DAILY, period, now):
            return None
        desk = SqlDeskRecords(session=session)
        done = publishing.publish_daily(
            self._config, records, desk, now, news_link=self._links.get("news")
        )
        queue_replies(session, done.replies, now=now, capabilities=self._capabilities)
        return done.story.code if done.story else None

    async def weekly(self, now: dt.datetime) -> str | None:
        """Post the digest of the week that ended at the latest weekly slot, unless it was
        posted or is too old; return the week posted (e.g. 2026-W48)."""
        posted = await self._db.run(lambda session: self._weekly(session, now))
        self._on_outbox()
        return posted

    def _weekly(self, session: Session, now: dt.datetime) -> str | None:
        zone = ZoneInfo(self._config.raw.organisation.timezone)
        since, slot = publishing.weekly_range(self._config, now)
        week = week_of(slot, zone)
        records = SqlPublishingRecords(session=session)
        if now - slot > dt.timedelta(hours=self._config.raw.schedule.catch_up_hours):
            if records.claim(WEEKLY, week, now, status="skipped"):
                log.warning("weekly digest missed its slot; skipped", extra={"week": week})
            return None
        if not records.claim(WEEKLY, week, now):
            return None
        replies = publishing.publish_weekly(self._config, records, now, since)
        queue_replies(session, replies, now=now, capabilities=self._capabilities)
        return week


class RetentionJobs:
    """The nightly retention run: delivered texts and old closed submissions' personal data
    go after the periods config sets (`retention`), which the privacy notice states."""

    def __init__(self, *, db: Database, config: OrgConfig) -> None:
        self._db = db
        self._config = config

    async def prune(self, now: dt.datetime) -> retention.Pruned:
        """Prune everything whose retention ended before `now`, in one transaction."""
        kept = self._config.raw.retention
        limits = cutoffs(now, delivery_days=kept.delivery_days, closed_months=kept.closed_months)

        def run(session: Session) -> retention.Pruned:
            pruned = retention.prune_deliveries(session=session, before=limits.delivered)
            closed = retention.anonymise_closed(session=session, before=limits.closed, now=now)
            return replace(pruned, anonymised=closed)

        pruned = await self._db.run(run)
        log.info("retention run", extra={"pruned": asdict(pruned)})
        return pruned


def schedule_retention(
    scheduler: AsyncIOScheduler,
    jobs: RetentionJobs,
    config: OrgConfig,
    clock: Callable[[], dt.datetime],
) -> None:
    """Add the nightly retention run at `retention.time`; each run prunes everything due, so
    a night missed is made up by the next."""
    at = config.raw.retention.time

    async def prune() -> None:
        """Prune what is past its retention now."""
        await jobs.prune(clock())

    scheduler.add_job(
        prune,
        CronTrigger(hour=at.hour, minute=at.minute),
        id="retention",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=6 * 3600,
    )


def schedule(
    jobs: DeskJobs,
    publisher: PublishingJobs,
    config: OrgConfig,
    clock: Callable[[], dt.datetime],
) -> AsyncIOScheduler:
    """The scheduler with the desk's and the publisher's jobs (started by the application)."""
    desk = config.raw.desk
    scheduler = AsyncIOScheduler(timezone=ZoneInfo(config.raw.organisation.timezone))

    async def sweep() -> None:
        """Run the deadline sweep now."""
        await jobs.sweep(clock())

    async def summary() -> None:
        """Send the morning summaries now."""
        await jobs.morning_summary(clock())

    scheduler.add_job(
        sweep,
        IntervalTrigger(minutes=desk.sweep_minutes),
        id="desk-sweep",
        coalesce=True,
        max_instances=1,
    )
    scheduler.add_job(
        summary,
        CronTrigger(
            day_of_week="mon-fri",
            hour=desk.morning_summary.hour,
            minute=desk.morning_summary.minute,
        ),
        id="morning-summary",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=3600,
    )

    async def daily() -> None:
        """Post today's good news now (once per day)."""
        await publisher.daily(clock())

    async def weekly() -> None:
        """Post this week's digest now (once per week)."""
        await publisher.weekly(clock())

    digest = config.raw.schedule.weekly_digest
    scheduler.add_job(
        weekly,
        CronTrigger(day_of_week=digest.day[:3], hour=digest.time.hour, minute=digest.time.minute),
        id="weekly-digest",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=config.raw.schedule.catch_up_hours * 3600,
    )
    good_news = config.raw.schedule.daily_good_news
    scheduler.add_job(
        daily,
        CronTrigger(hour=good_news.hour, minute=good_news.minute),
        id="daily-good-news",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=config.raw.schedule.catch_up_hours * 3600,
    )
    return scheduler


def schedule_upload_cleanup(
    scheduler: AsyncIOScheduler,
    uploads: Uploads,
    config: OrgConfig,
    clock: Callable[[], dt.datetime],
) -> None:
    """Every hour, delete the uploads no submission took within channels.web.upload_keep_hours
    (and files nothing accounts for any more)."""

    async def clean_uploads() -> None:
        """Run the upload cleanup now."""
        await uploads.clean(clock(), config.raw.channels.web.upload_keep_hours)

    scheduler.add_job(
        clean_uploads,
        IntervalTrigger(hours=1),
        id="upload-cleanup",
        coalesce=True,
        max_instances=1,
    )
