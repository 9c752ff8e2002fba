"""The command line: run, migrate, check-config, route, invite, vapid-keys, zalo-oa-consent."""

import argparse
import asyncio
import logging
import signal
import sys
from collections import Counter

from pydantic import ValidationError

from bot.app import CHANNELS, CauNoi, build_application, check_channel_names
from bot.channels.base import ChannelUnavailable
from bot.channels.web.push import new_key_pair
from bot.config import ConfigError, OrgConfig, load_config
from bot.domain.kinds import Kind
from bot.domain.routing import Mismatch, Rule, explain
from bot.logs import setup_logging
from bot.settings import Settings
from bot.zalo_oa_consent import consent as zalo_oa_consent
from storage.migrate import upgrade

log = logging.getLogger("bot")


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'env'}: {e['msg']}" for e in error.errors()
        )
        raise SystemExit(f"Environment settings are wrong: {problems}") from None


def _config(settings: Settings) -> OrgConfig:
    try:
        config = load_config(settings.caunoi_config)
        check_channel_names(config, CHANNELS)
    except ConfigError as error:
        raise SystemExit(f"{settings.caunoi_config} is wrong: {error}") from None
    return config


def check_config(settings: Settings) -> int:
    """Validate config.yaml and print a summary of the organisation."""
    config = _config(settings)
    raw = config.raw
    kinds = Counter(u.kind for u in config.units)
    print(f"Organisation: {raw.organisation.name.vi} ({config.province_name})")
    print("Units: " + ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())))
    print("Categories: " + ", ".join(f"{k}: {len(v)}" for k, v in raw.categories.items()))
    print(f"Staff: {len(raw.staff)}")
    for member in raw.staff:
        roles = ", ".join(member.roles)
        reached = ", ".join(sorted(member.identities)) or "no channel account yet (invite them)"
        print(f"  - {member.name} [{roles}] units: {len(member.units) or 'all'}; on: {reached}")
    print(f"Routes: {len(raw.routing.rules)} rules, then the office; confidential: inspection")
    for i, rule in enumerate(config.routes.rules):
        kinds_text = ", ".join(sorted(rule.kinds)) or "any kind"
        target = ", ".join(_targets(rule))
        print(f"  {i + 1}. {kinds_text}; {len(rule.units) or 'any'} units -> {target}")
    outlets = ", ".join(f"{channel} {chat}" for channel, chat in config.outlets)
    print(f"Public outlets: {outlets or 'none (subscribers and the news page only)'}")
    print("config.yaml is valid.")
    return 0


def explain_route(settings: Settings, kind: str, category: str, unit_ref: str | None) -> int:
    """Print which routing rule a submission would match, and why the earlier ones did not."""
    config = _config(settings)
    unit = config.find_unit(unit_ref) if unit_ref else None
    if unit_ref and unit is None:
        print(f"No single unit matches {unit_ref!r}; type more of its name.")
        return 2
    if config.category(kind, category) is None:
        codes = ", ".join(c.code for c in config.raw.categories[Kind(kind)])
        print(f"{kind} has no category {category!r}; its categories: {codes}")
        return 2
    print(f"Submission: {kind}, {category}, unit {unit.name if unit else '(none)'}")
    verdicts = explain(config.routes, kind, category, unit.code if unit else None)
    for verdict in verdicts:
        rule = verdict.rule
        if verdict.matched:
            print(f"  {rule.name}: MATCHES -> {', '.join(_targets(rule))}")
        else:
            reasons = "; ".join(_mismatch(config, m) for m in verdict.failed)
            print(f"  {rule.name}: no ({reasons})")
    if kind == Kind.CONFIDENTIAL:
        print("  (confidential reports always go to the inspection committee only)")
    elif verdicts[-1].rule is config.routes.office:
        print("  (no rule matched: the office receives it)")
    return 0


def _targets(rule: Rule) -> list[str]:
    """A rule's destinations as the operator reads them: "telegram group -100…", "staff an"."""
    groups = [f"{channel} group {chat}" for channel, chat in rule.groups]
    return groups + [f"staff {code}" for code in rule.staff]


def _mismatch(config: OrgConfig, mismatch: Mismatch) -> str:
    def name(value: str) -> str:
        unit = config.unit(value) if mismatch.field == "unit" else None
        return unit.name if unit else value or "(none)"

    allowed = ", ".join(sorted(name(v) for v in mismatch.allowed))
    return f"{mismatch.field} {name(mismatch.value)} is not one of: {allowed}"


async def _print_try_out(caunoi: CauNoi) -> None:
    """Without Telegram: the address of the web chat and sign-in links to try the desk."""
    web = caunoi.config.raw.channels.web
    print(f"Cầu Nối is running without Telegram. Open the web chat: {caunoi.base_url}/chat")
    for label, code in (("staff member", web.try_out_staff), ("admin", web.try_out_admin)):
        if code is None:
            continue
        link = await caunoi.sign_in_link(code)
        if link is not None:
            print(f"  Sign in as the demo {label} ({code}), once, in another browser: {link}")
    print("Set TELEGRAM_BOT_TOKEN to run Telegram beside it. Stop with Ctrl-C.", flush=True)


async def _serve(settings: Settings, config: OrgConfig) -> int:
    caunoi = build_application(settings, config)
    try:
        await caunoi.start()
    except ChannelUnavailable as error:
        log.error(str(error))
        await caunoi.stop()
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if "telegram" not in caunoi.channels:
        await _print_try_out(caunoi)
    channels = ", ".join(caunoi.channels)
    log.info(
        "Cầu Nối is running",
        extra={"http": f"{settings.http_host}:{settings.http_port}", "channels": channels},
    )
    await stop.wait()
    log.info("stopping: finishing work in flight")
    await caunoi.stop()
    log.info("stopped")
    return 0


def run(settings: Settings) -> int:
    """Migrate the database and run the bot until SIGTERM or Ctrl-C."""
    config = _config(settings)
    if not settings.telegram_enabled and not config.raw.channels.web.enabled:
        print(
            "No TELEGRAM_BOT_TOKEN set and the web chat is off: export TELEGRAM_BOT_TOKEN="
            "<token from @BotFather> or set channels.web.enabled in config.yaml."
        )
        return 0
    upgrade(settings.database_url.get_secret_value())
    return asyncio.run(_serve(settings, config))


def invite(settings: Settings, staff_code: str) -> int:
    """Print a one-time link that signs a staff member in to the desk on the web chat."""
    config = _config(settings)
    upgrade(settings.database_url.get_secret_value())

    async def make() -> str | None:
        caunoi = build_application(
            settings.model_copy(update={"telegram_bot_token": None}), config
        )
        try:
            await caunoi.prepare()  # never start(): that would run the scheduler's catch-up
            return await caunoi.sign_in_link(staff_code)
        finally:
            await caunoi.stop()

    link = asyncio.run(make())
    if link is None:
        codes = ", ".join(member.code for member in config.raw.staff)
        print(f"No active staff member {staff_code!r}; staff in config.yaml: {codes}")
        return 2
    hours = config.raw.desk.invite_hours
    print(f"One-time sign-in link for {staff_code} (valid {hours} hours): {link}")
    return 0


def vapid_keys() -> int:
    """Print a new VAPID key pair for Web Push, as the environment lines to set."""
    pair = new_key_pair()
    print("# Web Push (VAPID) keys for the web chat; keep the private key secret.")
    print(f"WEBPUSH_VAPID_PRIVATE_KEY={pair.private}")
    print(f"# The public key (browsers get it from the page): {pair.public}")
    print("# Optional, whom push services may write to:")
    print("# WEBPUSH_VAPID_SUBJECT=mailto:you@example.org")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m bot", description="Cầu Nối")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="migrate the database and run the bot")
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser("check-config", help="validate config.yaml and print a summary")
    route = commands.add_parser("route", help="explain which routing rule a submission matches")
    route.add_argument("--kind", required=True, choices=[k.value for k in Kind])
    route.add_argument("--category", required=True)
    route.add_argument("--unit", help="a unit's code or name, diacritics optional")
    sign_in = commands.add_parser("invite", help="print a one-time web sign-in link for staff")
    sign_in.add_argument("staff_code", help="a staff member's code from config.yaml or /staff")
    commands.add_parser("vapid-keys", help="print a new key pair for Web Push (VAPID)")
    oa = commands.add_parser(
        "zalo-oa-consent", help="give the Zalo OA app its tokens: a link, then the code"
    )
    oa.add_argument("answer", nargs="?", help="the code, or the whole address Zalo sent you to")
    oa.add_argument(
        "--redirect-uri", help="the app's callback URL (default: PUBLIC_URL/zalo/oa/consent)"
    )
    args = parser.parse_args(argv)
    if args.command == "vapid-keys":
        return vapid_keys()  # needs no settings: it is how one gets the key to set
    settings = _settings()
    secrets = [
        s.get_secret_value()
        for s in (
            settings.telegram_bot_token,
            settings.webhook_secret,
            settings.webpush_vapid_private_key,
            settings.zalo_bot_token,
            settings.zalo_oa_app_secret,
            settings.zalo_oa_refresh_token,
        )
        if s
    ]
    setup_logging(settings.log_level, secrets)
    if args.command == "check-config":
        return check_config(settings)
    if args.command == "route":
        return explain_route(settings, args.kind, args.category, args.unit)
    if args.command == "invite":
        return invite(settings, args.staff_code)
    if args.command == "zalo-oa-consent":
        return zalo_oa_consent(settings, args.answer, args.redirect_uri)
    if args.command == "migrate":
        upgrade(settings.database_url.get_secret_value())
        print("Database is up to date.")
        return 0
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
