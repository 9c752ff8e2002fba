"""config.yaml validation: the shipped file works; a wrong one names the key and the fix."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import ConfigError, load_config, parse_config
from bot.settings import Settings
from tests.conftest import ROOT


def _shipped() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_shipped_config_resolves_the_96_communes_and_wards_of_tay_ninh() -> None:
    config = load_config(ROOT / "config.yaml")
    communes_and_wards = [u for u in config.units if u.kind in {"xa", "phuong"}]
    assert config.province_name == "Tây Ninh"
    assert len(communes_and_wards) == 96
    assert config.unit("Phường Gò Dầu") == config.unit("PHUONG GO DAU")
    assert config.unit("phuong go dau") is not None


def test_province_can_be_given_by_code() -> None:
    data = _shipped()
    data["organisation"]["province"] = 80
    assert parse_config(data).province_name == "Tây Ninh"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["organisation"].update(province="Atlantis"), "organisation.province"),
        (lambda d: d["staff"][1]["units"].append("Xã Không Có"), "staff[1].units: unknown unit"),
        (lambda d: d["staff"][1]["categories"].append("nope"), "staff[1].categories"),
        (lambda d: d["routing"]["rules"][0]["staff"].append("ghost"), "routing.rules[0].staff"),
        (lambda d: d["sla"]["working_days"].pop("story"), "sla.working_days: add a deadline"),
        (lambda d: d["sla"]["working_days"].update(story=0), "sla.working_days"),
        (lambda d: d["categories"].update(idea=[]), "categories.idea"),
        (lambda d: d.update(colour="blue"), "colour: Extra inputs are not permitted"),
        (lambda d: d["schedule"].update(daily_good_news="25:99"), "schedule.daily_good_news"),
        (
            lambda d: d["routing"]["rules"][0].pop("staff"),
            "a route needs groups, group_chat_id or staff",
        ),
        (
            lambda d: d.update(retention={"delivery_days": 1}),
            "retention.delivery_days: Value error, keep deliveries 2 to 365 days",
        ),
        (
            lambda d: d.update(retention={"closed_months": 6}),
            "retention.closed_months: Value error, keep closed submissions 12 to 120 months",
        ),
        (lambda d: d.update(retention={"keep": 1}), "retention.keep: Extra inputs"),
        (
            lambda d: d["channels"]["web"].update(try_out_admin="ghost"),
            "channels.web.try_out_staff/try_out_admin: unknown staff code ghost",
        ),
    ],
)
def test_wrong_config_names_the_key(change: Any, message: str) -> None:
    data = _shipped()
    change(data)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(data)


def test_unreadable_or_broken_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("organisation: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)


def test_webhook_needs_a_valid_secret() -> None:
    with pytest.raises(ValueError, match="WEBHOOK_SECRET is empty"):
        Settings(webhook_url="https://example.org")
    with pytest.raises(ValueError, match="WEBHOOK_SECRET must be"):
        Settings(webhook_url="https://example.org", webhook_secret="has spaces!")
    assert Settings(webhook_url="https://e.org", webhook_secret="ok_1-2").webhook() == (
        "https://e.org/",
        "ok_1-2",
    )
