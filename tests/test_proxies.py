"""X-Forwarded-For is believed only from the proxies in TRUSTED_PROXIES."""

import httpx
import pytest
from starlette.requests import Request

from bot.settings import Settings
from bot.web import client_address
from tests.conftest import AppFactory, config_with

PROXIES = Settings(trusted_proxies="10.0.0.5, 192.168.0.0/24").proxies()


def _request(peer: str, forwarded: str | None) -> Request:
    headers = [] if forwarded is None else [(b"x-forwarded-for", forwarded.encode())]
    return Request({"type": "http", "client": (peer, 5000), "headers": headers})


@pytest.mark.parametrize(
    ("peer", "forwarded", "address"),
    [
        ("203.0.113.9", None, "203.0.113.9"),
        # An untrusted peer's header is ignored, whatever it says.
        ("203.0.113.9", "1.2.3.4", "203.0.113.9"),
        ("127.0.0.1", "1.2.3.4", "127.0.0.1"),
        # From a trusted proxy: the right-most address no trusted proxy added.
        ("10.0.0.5", "1.2.3.4", "1.2.3.4"),
        ("10.0.0.5", "9.9.9.9, 1.2.3.4", "1.2.3.4"),
        ("10.0.0.5", "1.2.3.4, 192.168.0.7", "1.2.3.4"),
        ("10.0.0.5", "forged, 1.2.3.4", "1.2.3.4"),
        ("10.0.0.5", "192.168.0.7", "192.168.0.7"),
        ("10.0.0.5", "", "10.0.0.5"),
        ("10.0.0.5", None, "10.0.0.5"),
    ],
)
def test_the_client_address_is_taken_from_trusted_proxies_only(
    peer: str, forwarded: str | None, address: str
) -> None:
    assert client_address(_request(peer, forwarded), PROXIES) == address


def test_a_wrong_trusted_proxy_is_named() -> None:
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        Settings(trusted_proxies="10.0.0.5, not-an-address")


async def _guesses(app_port: int, *, rotate: bool) -> list[int]:
    statuses = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app_port}") as client:
        origin = {"Origin": f"http://127.0.0.1:{app_port}"}
        for i in range(6):
            headers = {**origin, "X-Forwarded-For": f"198.51.100.{i}"} if rotate else origin
            body = {"token": "t" * 32, "code": f"PA-2611-{i:04d}"}
            answer = await client.post("/chat/api/resume", json=body, headers=headers)
            statuses.append(answer.status_code)
    return statuses


async def test_rotating_the_header_does_not_escape_the_address_limit(
    make_app: AppFactory,
) -> None:
    config = config_with({"channels": {"web": {"requests_per_minute_address": 5}}})
    app = await make_app(serve_http=True, config=config)
    assert app.http_port is not None
    statuses = await _guesses(app.http_port, rotate=True)
    assert statuses[:5] == [403] * 5, "wrong codes are refused"
    assert statuses[5] == 429, "the sixth guess from one address is slowed down"


async def test_behind_a_trusted_proxy_each_visitor_has_their_own_limit(
    make_app: AppFactory,
) -> None:
    config = config_with({"channels": {"web": {"requests_per_minute_address": 5}}})
    app = await make_app(serve_http=True, config=config, trusted_proxies="127.0.0.1")
    assert app.http_port is not None
    assert await _guesses(app.http_port, rotate=True) == [403] * 6
    same = await _guesses(app.http_port, rotate=False)
    assert same[-1] == 429, "without the header the proxy itself is the address"
