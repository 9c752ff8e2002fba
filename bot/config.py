"""The organisation described in config.yaml: units, categories, staff, routes, SLA, schedules."""

import datetime as dt
import re
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from vietnam_provinces import Province, Ward

from bot.domain.broadcasting import ANNOUNCEMENTS
from bot.domain.desk import Staff
from bot.domain.kinds import Kind, Role
from bot.domain.people import PUBLICATIONS
from bot.domain.routing import Routes, Rule
from bot.domain.sla import NudgePolicy
from bot.domain.text import fold
from bot.domain.units import UnitName, search_units

# Retention bounds (retention.*): deliveries outlive Telegram's 24 h of redelivery; closed
# submissions keep their details through at least the yearly report.
MIN_DELIVERY_DAYS, MAX_DELIVERY_DAYS = 2, 365
MIN_CLOSED_MONTHS, MAX_CLOSED_MONTHS = 12, 120
# The channel that the shorthands telegram_id, group_chat_id and public_channel_id name.
SHORTHAND_CHANNEL = "telegram"
# An origin a page may frame the chat from: http(s), a host name or IPv4 address, a port.
EMBED_ORIGIN = re.compile(
    r"https?://(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?::\d{1,5})?"
)


class ConfigError(Exception):
    """config.yaml is missing, unreadable or wrong; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Code = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=40)]


class Label(_Strict):
    """A name in each language."""

    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Category(_Strict):
    """A topic within one kind of submission."""

    code: Code
    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)


class AffiliatedUnit(_Strict):
    """A union directly under the province: a school, an enterprise, the armed forces…"""

    code: Code
    name: str = Field(min_length=1)
    kind: Literal["school", "enterprise", "armed_forces", "agency", "other"]


class Organisation(_Strict):
    """Who runs this bot."""

    name: Label
    province: str | int
    timezone: str = "Asia/Ho_Chi_Minh"
    # The language newcomers are greeted in unless their own text is clearly in the other one.
    language: Literal["vi", "en"] = "vi"
    # Where a sender can turn when a submission is rejected (office, address, hotline).
    contact: Label | None = None


# A channel's name as the registry in bot/app.py spells it; whether such a channel exists is
# checked against that registry when the app is built and by check-config.
ChannelName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]


def _account_id(channel: object, value: object, *, names: bool = False) -> object:
    """An id as text: YAML reads Telegram's numeric ids as numbers, which only Telegram's may
    be; a Telegram id is a number (or, where `names`, a public @name)."""
    if isinstance(value, bool):
        raise ValueError(f"{channel}: an id, not {value}")
    if isinstance(value, int):
        if channel != SHORTHAND_CHANNEL:
            raise ValueError(f"{channel}: write the id in quotes (only Telegram ids are numbers)")
        return str(value)
    if channel == SHORTHAND_CHANNEL and isinstance(value, str):
        named = names and value.startswith("@")
        if not named and not value.removeprefix("-").isdigit():
            raise ValueError(f"{channel}: {value!r} is not a Telegram id")
    return value


AccountId = Annotated[str, Field(min_length=1, max_length=64)]


class StaffMember(_Strict):
    """A cadre declared in config; units and categories scope what they handle.

    `identities` maps a channel to the member's account there; `telegram_id: N` is short
    for `identities: {telegram: N}`.
    """

    code: Code
    name: str = Field(min_length=1)
    identities: dict[ChannelName, AccountId] = Field(default_factory=dict)
    roles: list[Role] = Field(min_length=1)
    units: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _telegram_shorthand(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "telegram_id" not in data:
            return data
        data = dict(data)
        shorthand = data.pop("telegram_id")
        if shorthand is None:
            return data
        identities = data.get("identities") or {}
        if not isinstance(identities, dict):
            return data  # the field's own check names the problem
        given = identities.get(SHORTHAND_CHANNEL)
        if given is not None and str(given) != str(shorthand):
            raise ValueError(
                f"telegram_id {shorthand} and identities.telegram {given} differ (give one)"
            )
        data["identities"] = {**identities, SHORTHAND_CHANNEL: shorthand}
        return data

    @field_validator("identities", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {channel: _account_id(channel, v) for channel, v in value.items()}


class Destination(_Strict):
    """A chat on one channel: a staff group, or a public outlet such as a channel."""

    channel: ChannelName
    id: AccountId

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any, info: ValidationInfo) -> Any:
        return _account_id(info.data.get("channel"), value, names=True)


class Route(_Strict):
    """Send matching submissions to staff groups and/or named staff.

    `group_chat_id: N` is short for `groups: [{channel: telegram, id: N}]`.
    """

    kinds: list[Kind] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    units: list[str] = Field(default_factory=list)
    groups: list[Destination] = Field(default_factory=list)
    staff: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _group_shorthand(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "group_chat_id" not in data:
            return data
        data = dict(data)
        shorthand = data.pop("group_chat_id")
        if shorthand is not None:
            group = {"channel": SHORTHAND_CHANNEL, "id": shorthand}
            data["groups"] = [group, *(data.get("groups") or [])]
        return data

    @model_validator(mode="after")
    def _has_target(self) -> "Route":
        if not self.groups and not self.staff:
            raise ValueError("a route needs groups, group_chat_id or staff")
        return self


class Routing(_Strict):
    """The ordered rules; the first that matches wins, else the office."""

    rules: list[Route] = Field(default_factory=list)
    office: Route
    inspection: Route


class Publishing(_Strict):
    """Where the daily post and the weekly digest are published, each in its channel."""

    outlets: list[Destination] = Field(default_factory=list)


class Topic(_Strict):
    """A topic of broadcasts that people subscribe to in /settings."""

    code: Code
    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)


DEFAULT_TOPICS = (
    Topic(code="announcements", vi="Thông báo chung", en="Announcements"),
    Topic(code="jobs", vi="Việc làm", en="Jobs"),
    Topic(code="volunteering", vi="Tình nguyện", en="Volunteering"),
    Topic(code="events", vi="Sự kiện", en="Events"),
    Topic(code="study", vi="Học tập", en="Study"),
)


class Broadcasts(_Strict):
    """Messages to many: the topics people choose from, and who besides admins may send."""

    topics: list[Topic] = Field(default_factory=lambda: list(DEFAULT_TOPICS))
    # Unit secretaries may broadcast to their own units.
    secretaries_may_send: bool = False

    @field_validator("topics")
    @classmethod
    def _announcements_first(cls, value: list[Topic]) -> list[Topic]:
        codes = [topic.code for topic in value]
        if len(set(codes)) != len(codes):
            raise ValueError("each topic code may appear only once")
        if set(codes) & set(PUBLICATIONS):
            raise ValueError(f"{', '.join(PUBLICATIONS)}: taken by the publications")
        if ANNOUNCEMENTS not in codes:  # always there: it is what consent subscribes to
            return [DEFAULT_TOPICS[0], *value]
        return value

    def topic(self, code: str) -> Topic | None:
        """A topic by its code."""
        return next((t for t in self.topics if t.code == code), None)


class Sla(_Strict):
    """Answer deadlines in working days."""

    working_days: dict[Kind, int]
    holidays: list[dt.date] = Field(default_factory=list)

    @field_validator("working_days")
    @classmethod
    def _positive(cls, value: dict[Kind, int]) -> dict[Kind, int]:
        for kind, days in value.items():
            if days < 1:
                raise ValueError(f"{kind}: the deadline must be at least 1 working day")
        return value


class Desk(_Strict):
    """How the staff desk works: signatures, nudges around deadlines, canned answers."""

    # Answers are signed with the organisation's name unless this is true.
    show_staff_names: bool = False
    auto_close_days: int = Field(default=7, ge=1, le=90)
    remind_working_days_before: int = Field(default=1, ge=0, le=10)
    escalate_admin_after_working_days: int = Field(default=2, ge=0, le=30)
    morning_summary: dt.time = dt.time(7, 45)
    sweep_minutes: int = Field(default=15, ge=1, le=240)
    invite_hours: int = Field(default=72, ge=1, le=24 * 30)
    canned_answers: dict[str, list[Label]] = Field(default_factory=dict)


class Weekly(_Strict):
    """A weekday and a time of day."""

    day: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    time: dt.time


class Schedule(_Strict):
    """When the publications go out, in the organisation's time zone."""

    daily_good_news: dt.time
    weekly_digest: Weekly
    catch_up_hours: int = Field(default=6, ge=0, le=48)


class TelegramChannel(_Strict):
    """Telegram settings that are not secret."""

    rate_limit_per_second: float = Field(default=30, ge=0)
    # Broadcasts' share of it: replies use what they leave (Telegram allows 30 a second).
    bulk_rate_per_second: float = Field(default=25, gt=0, le=30)
    max_concurrent_updates: int = Field(default=256, ge=1, le=4096)
    # Connections to the Bot API, each carrying one request at a time; also the cap on
    # messages in flight. At 100 ms per call, 64 connections carry up to 640 calls/s.
    connections: int = Field(default=64, ge=1, le=1024)
    # Short for a Telegram outlet in publishing.outlets.
    public_channel_id: int | str | None = None


class WebChannel(_Strict):
    """The web chat served by the app itself."""

    enabled: bool = True
    # False: choices are shown as a numbered menu to answer by typing (as on channels
    # without buttons).
    buttons: bool = True
    # Replies being delivered at once, and at most this many a second (none: no limit).
    max_in_flight: int = Field(default=64, ge=1, le=1024)
    rate_limit_per_second: float | None = Field(default=None, gt=0)
    session_days: int = Field(default=30, ge=1, le=365)
    staff_session_hours: int = Field(default=12, ge=1, le=24 * 7)
    # Requests that change something, per minute: per browser session and per address.
    requests_per_minute_session: int = Field(default=30, ge=5, le=600)
    requests_per_minute_address: int = Field(default=120, ge=5, le=6000)
    # How long a waiting browser is held before it asks again (long polling).
    poll_seconds: int = Field(default=25, ge=1, le=60)
    # Uploads (only after consent, at a step that takes files): per session and per address
    # in any hour, and how long one that no submission took is kept.
    uploads_per_hour_session: int = Field(default=20, ge=1, le=1000)
    uploads_per_hour_address: int = Field(default=60, ge=1, le=10_000)
    # New browser sessions one address may open in an hour (a school's shared address counts
    # as one, hence the generous default).
    sessions_per_hour_address: int = Field(default=300, ge=1, le=100_000)
    upload_keep_hours: int = Field(default=6, ge=1, le=7 * 24)
    # Staff codes that `make run` without a Telegram token prints sign-in links for.
    try_out_staff: str | None = None
    try_out_admin: str | None = None
    # The websites (origins such as https://tinhdoantayninh.vn) that may show the chat in a
    # frame, through /chat/embed.js; none: only our own pages may.
    embed_origins: tuple[str, ...] = ()

    @field_validator("embed_origins")
    @classmethod
    def _origins_only(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        for origin in origins:
            if not EMBED_ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin!r} is not a website's origin: write its scheme and host only, "
                    "with a port if it has one, such as https://tinhdoantayninh.vn"
                )
        return tuple(origin.lower() for origin in origins)


class ZaloBotChannel(_Strict):
    """The Zalo Bot API channel (a bot made in Zalo Bot Creator; ZALO_BOT_TOKEN)."""

    enabled: bool = True
    # auto: a webhook when WEBHOOK_URL is set, else long polling (they exclude each other).
    mode: Literal["auto", "polling", "webhook"] = "auto"
    poll_seconds: int = Field(default=30, ge=1, le=60)
    max_concurrent_updates: int = Field(default=64, ge=1, le=1024)
    # Replies being delivered at once, and at most this many a second (none: no limit).
    max_in_flight: int = Field(default=16, ge=1, le=256)
    rate_limit_per_second: float | None = Field(default=5, gt=0)
    # How long to pause sending after a quota error (429); Zalo gives no retry time.
    quota_retry_seconds: float = Field(default=600, gt=0, le=86_400)
    # The error codes that mean the person blocked the bot (unconfirmed: configurable).
    gone_error_codes: tuple[int, ...] = (403,)
    # How long a photo link we hand Zalo (sendPhoto by URL) stays valid.
    photo_link_minutes: int = Field(default=60, ge=1, le=24 * 60)


class Channels(_Strict):
    """Per-channel settings: the built-in channels' here, any other channel's section is
    read by its own adapter (an unknown name is refused when the app is built)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    telegram: TelegramChannel = TelegramChannel()
    web: WebChannel = WebChannel()
    zalo_bot: ZaloBotChannel = ZaloBotChannel()

    def sections(self) -> list[str]:
        """The names of every channel section given (the built-in ones always count)."""
        return ["telegram", "web", "zalo_bot", *(self.model_extra or {})]

    def section(self, name: str) -> dict[str, Any]:
        """The raw settings of a channel that brings its own section, or {}."""
        value = (self.model_extra or {}).get(name)
        return dict(value) if isinstance(value, dict) else {}


class Limits(_Strict):
    """Bounds on what one person may send."""

    text_min_chars: int = Field(default=10, ge=1)
    text_max_chars: int = Field(default=4000, ge=100, le=20000)
    submissions_per_day: int = Field(default=10, ge=1)
    attachments_per_submission: int = Field(default=5, ge=0, le=20)
    attachment_max_mb: int = Field(default=20, ge=1, le=20)
    reopen_days: int = Field(default=14, ge=0, le=365)
    dialogue_timeout_minutes: int = Field(default=60, ge=5, le=7 * 24 * 60)
    messages_per_minute: int = Field(default=20, ge=3, le=600)
    # /link: how long a code lives, and how many wrong codes an account may type in an hour.
    link_code_minutes: int = Field(default=10, ge=1, le=60)
    link_tries_per_hour: int = Field(default=5, ge=1, le=20)


class Retention(_Strict):
    """How long personal data is kept; the privacy notice states the same numbers."""

    # Sent messages' texts, handled inbound events and web chat messages.
    delivery_days: int = 30
    # Closed or rejected submissions keep their personal data this long, then only counts.
    closed_months: int = 24
    # When the nightly job runs, in the organisation's time zone.
    time: dt.time = dt.time(3, 30)

    @field_validator("delivery_days")
    @classmethod
    def _long_enough_for_redelivery(cls, days: int) -> int:
        if not MIN_DELIVERY_DAYS <= days <= MAX_DELIVERY_DAYS:
            raise ValueError(
                f"keep deliveries {MIN_DELIVERY_DAYS} to {MAX_DELIVERY_DAYS} days "
                "(inbound events must outlive the platforms' redelivery, Telegram's is 24 h)"
            )
        return days

    @field_validator("closed_months")
    @classmethod
    def _within_reporting(cls, months: int) -> int:
        if not MIN_CLOSED_MONTHS <= months <= MAX_CLOSED_MONTHS:
            raise ValueError(
                f"keep closed submissions {MIN_CLOSED_MONTHS} to {MAX_CLOSED_MONTHS} months "
                "(at least a year, for the yearly report)"
            )
        return months


class RawConfig(_Strict):
    """config.yaml as written."""

    organisation: Organisation
    affiliated_units: list[AffiliatedUnit] = Field(default_factory=list)
    categories: dict[Kind, list[Category]]
    staff: list[StaffMember] = Field(default_factory=list)
    routing: Routing
    sla: Sla
    desk: Desk = Desk()
    schedule: Schedule
    publishing: Publishing = Publishing()
    channels: Channels = Channels()
    limits: Limits = Limits()
    retention: Retention = Retention()
    broadcasts: Broadcasts = Broadcasts()


class Unit(BaseModel):
    """A commune, a ward or a directly affiliated union."""

    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    kind: str


class OrgConfig(BaseModel):
    """The validated organisation, with units resolved from vietnam-provinces."""

    model_config = ConfigDict(frozen=True)

    raw: RawConfig
    province_name: str
    units: tuple[Unit, ...]

    def unit(self, ref: str) -> Unit | None:
        """Return the unit with this code or this name (diacritics and case ignored)."""
        by_code, by_name = self._unit_index
        return by_code.get(ref) or by_name.get(fold(ref))

    def find_unit(self, ref: str) -> Unit | None:
        """The one unit a typed reference means: a code, a full name, or a part of a name
        that matches a single unit or one exactly ('go dau'); None when it is unclear."""
        exact = self.unit(ref)
        if exact is not None:
            return exact
        matches, total = search_units(self.unit_names, ref[:100])
        if total == 1 or (matches and fold(ref) in (matches[0].bare, matches[0].folded)):
            return self.unit(matches[0].code)
        return None

    @cached_property
    def _unit_index(self) -> tuple[dict[str, Unit], dict[str, Unit]]:
        by_name: dict[str, Unit] = {}
        for unit in self.units:
            by_name.setdefault(fold(unit.name), unit)
        return {u.code: u for u in self.units}, by_name

    @cached_property
    def unit_names(self) -> list[UnitName]:
        """Every unit, as the picker searches them."""
        return [UnitName(u.code, u.name) for u in self.units]

    def declared_staff(self) -> list[tuple[Staff, dict[str, str]]]:
        """The staff in config.yaml, with unit names resolved, and their account on each
        channel (Telegram's first, the one that names a new member's person)."""
        return [
            (
                Staff(
                    code=m.code,
                    name=m.name,
                    roles=frozenset(m.roles),
                    units=frozenset(u.code for ref in m.units if (u := self.unit(ref))),
                    categories=frozenset(m.categories),
                ),
                dict(sorted(m.identities.items(), key=lambda i: i[0] != SHORTHAND_CHANNEL)),
            )
            for m in self.raw.staff
        ]

    def category(self, kind: str, code: str) -> Category | None:
        """A category of one kind by its code."""
        return next((c for c in self.raw.categories.get(Kind(kind), []) if c.code == code), None)

    def staff_member(self, code: str) -> StaffMember | None:
        """A staff member declared in config."""
        return next((s for s in self.raw.staff if s.code == code), None)

    @cached_property
    def routes(self) -> Routes:
        """The routing rules with unit names resolved to codes."""
        routing = self.raw.routing
        rules = [self._rule(f"rules[{i}]", r) for i, r in enumerate(routing.rules)]
        return Routes(
            rules,
            self._rule("office", routing.office),
            self._rule("inspection", routing.inspection),
        )

    def named_channels(self) -> dict[str, str]:
        """Every channel named by a staff account, a routing group or an outlet, with the
        first place that names it."""
        named: dict[str, str] = {}
        for member in self.raw.staff:
            for channel in member.identities:
                named.setdefault(channel, f"staff {member.code}: identities")
        routing = self.raw.routing
        routes = [*routing.rules, routing.office, routing.inspection]
        for route in routes:
            for group in route.groups:
                named.setdefault(group.channel, "routing: groups")
        for channel, _ in self.outlets:
            named.setdefault(channel, "publishing: outlets")
        return named

    @cached_property
    def outlets(self) -> tuple[tuple[str, str], ...]:
        """The (channel, chat) pairs the publications go to, public_channel_id's first."""
        shorthand = self.raw.channels.telegram.public_channel_id
        outlets = [(o.channel, o.id) for o in self.raw.publishing.outlets]
        if shorthand is not None:
            outlets.insert(0, (SHORTHAND_CHANNEL, str(shorthand)))
        return tuple(dict.fromkeys(outlets))

    @cached_property
    def nudges(self) -> NudgePolicy:
        """When reminders and escalations about a deadline are due."""
        desk = self.raw.desk
        return NudgePolicy(
            remind_before=desk.remind_working_days_before,
            admin_after=desk.escalate_admin_after_working_days,
            holidays=frozenset(self.raw.sla.holidays),
            zone=ZoneInfo(self.raw.organisation.timezone),
        )

    def _rule(self, name: str, route: Route) -> Rule:
        units = frozenset(u.code for ref in route.units if (u := self.unit(ref)) is not None)
        return Rule(
            name=name,
            kinds=frozenset(route.kinds),
            categories=frozenset(route.categories),
            units=units,
            groups=tuple(dict.fromkeys((g.channel, g.id) for g in route.groups)),
            staff=tuple(route.staff),
        )


def resolve_province(value: str | int) -> Province:
    """Find a province by its code or its name, ignoring case and diacritics."""
    for province in Province.iter_all():
        if isinstance(value, int) and int(province.code) == value:
            return province
        if isinstance(value, str) and fold(value) in {fold(province.name), province.codename}:
            return province
    raise ConfigError(
        f"organisation.province: no province named or numbered {value!r} "
        "(use its name, e.g. 'Tây Ninh', or its code, e.g. 80)"
    )


def province_units(province: Province) -> list[Unit]:
    """The communes and wards of a province, as units keyed by their official code."""
    return [
        Unit(code=str(int(ward.code)), name=ward.name, kind=ward.division_type.name.lower())
        for ward in Ward.iter_by_province(province.code)
    ]


def _check_refs(where: str, refs: Iterable[str], known: set[str], what: str) -> None:
    unknown = sorted(r for r in set(refs) if r not in known and fold(r) not in known)
    if unknown:
        raise ConfigError(f"{where}: unknown {what} {', '.join(unknown)}")


def _validate_references(raw: RawConfig, unit_codes: set[str]) -> None:
    category_codes = {c.code for cats in raw.categories.values() for c in cats}
    staff_codes = {s.code for s in raw.staff}
    for kind in Kind:
        if not raw.categories.get(kind):
            raise ConfigError(f"categories.{kind}: list at least one category")
    owners: dict[tuple[str, str], str] = {}
    for i, member in enumerate(raw.staff):
        for account in member.identities.items():
            other = owners.setdefault(account, member.code)
            if other != member.code:
                raise ConfigError(
                    f"staff[{i}].identities: {account[0]} {account[1]} is already {other}'s"
                )
        _check_refs(f"staff[{i}].units", member.units, unit_codes, "unit")
        _check_refs(f"staff[{i}].categories", member.categories, category_codes, "category")
    named = [(f"routing.rules[{i}]", r) for i, r in enumerate(raw.routing.rules)]
    named += [
        ("routing.office", raw.routing.office),
        ("routing.inspection", raw.routing.inspection),
    ]
    for where, route in named:
        _check_refs(f"{where}.units", route.units, unit_codes, "unit")
        _check_refs(f"{where}.categories", route.categories, category_codes, "category")
        _check_refs(f"{where}.staff", route.staff, staff_codes, "staff code")
    _check_refs("desk.canned_answers", raw.desk.canned_answers, category_codes, "category")
    web = raw.channels.web
    try_out = [c for c in (web.try_out_staff, web.try_out_admin) if c]
    _check_refs("channels.web.try_out_staff/try_out_admin", try_out, staff_codes, "staff code")
    missing_sla = sorted(set(Kind) - set(raw.sla.working_days))
    if missing_sla:
        raise ConfigError(f"sla.working_days: add a deadline for {', '.join(missing_sla)}")


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"{key}: {item['msg']}")
    return "; ".join(lines)


def parse_config(data: Any) -> OrgConfig:
    """Validate parsed YAML and resolve the province's units."""
    if not isinstance(data, dict):
        raise ConfigError("config.yaml: the top level must be a mapping of sections")
    try:
        raw = RawConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None
    province = resolve_province(raw.organisation.province)
    units = province_units(province)
    units += [Unit(code=a.code, name=a.name, kind="affiliated") for a in raw.affiliated_units]
    codes = [u.code for u in units]
    duplicated = sorted({c for c in codes if codes.count(c) > 1})
    if duplicated:
        raise ConfigError(f"affiliated_units: code already used: {', '.join(duplicated)}")
    _validate_references(raw, set(codes) | {fold(u.name) for u in units})
    return OrgConfig(raw=raw, province_name=province.name, units=tuple(units))


def load_config(path: Path) -> OrgConfig:
    """Read and validate config.yaml, or raise ConfigError saying what to fix."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read it ({error.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from None
    return parse_config(data)
