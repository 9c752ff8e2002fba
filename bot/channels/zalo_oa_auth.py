"""The Zalo Official Account's OAuth v4 tokens, kept so they are never lost.

The access token lasts 25 hours and is refreshed an hour ahead; the refresh token is
single-use (each refresh answers a new one), so the new pair is committed in one transaction
right after Zalo answers and before it is used, and only one process refreshes at a time
(storage.zalo_oa's lock; after taking it the row is re-read, and another process's fresh pair
is used as is). A crash between Zalo's answer and our commit leaves the stored refresh token
burned: at start it is tried at once; when Zalo refuses it the tokens are lost, the admins are
told once (with the consent command) and every send raises TokensLost, a temporary failure,
so queued messages wait. Consenting again (`python -m bot zalo-oa-consent`), or a new
ZALO_OA_REFRESH_TOKEN and a restart, heals it.

Zalo's refresh: POST <oauth base>/v4/oa/access_token, a form of refresh_token, app_id and
grant_type=refresh_token, the app secret in the `secret_key` header; the answer is
{access_token, refresh_token, expires_in: "<seconds, as a string>"} or, also as HTTP 200,
{error: <negative>, error_name, error_reason, error_description}.
"""

import asyncio
import base64
import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from bot.channels.base import RateLimited, TemporaryFailure
from bot.dispatch import queue_replies
from bot.domain.messages import Reply
from bot.settings import Settings
from storage.db import Database, Session
from storage.desk import admin_recipients
from storage.models import utcnow
from storage.zalo_oa import (
    Held,
    LockBusy,
    NewPair,
    OaTokenRow,
    mark_lost,
    read_tokens,
    refresh_lock,
    save_pair,
    seed_tokens,
)

TOKEN_PATH = "/v4/oa/access_token"  # noqa: S105 (a path)
CONSENT_COMMAND = "python -m bot zalo-oa-consent"
LOST_KEY = "zalo_oa_tokens.lost"
REFRESH_AHEAD = dt.timedelta(hours=1)
# At start the stored refresh token is tried at once (a crash may have burned it), unless
# another process refreshed this recently.
FRESH_AT_START = dt.timedelta(minutes=5)
REFRESH_TIMEOUT = httpx.Timeout(20.0, connect=10.0)
# While the tokens are lost, the channel's sends are tried again this often (each try reads
# the database only: a consent in another process is picked up without a restart).
LOST_RETRY_SECONDS = 60.0
PERMISSION_PATH = "/v4/oa/permission"
log = logging.getLogger(__name__)


class TokensLost(RateLimited, TemporaryFailure):
    """Zalo refused the stored refresh token (or none was ever given): nothing reaches the
    OA until a person consents again. A temporary failure that the outbox reads as a pause
    of the whole channel (RateLimited comes first in its order), so queued messages are kept
    however long it lasts instead of being given up after a few tries."""

    def __init__(self, problem: str) -> None:
        super().__init__(LOST_RETRY_SECONDS)
        self.args = (problem,)


class OAuthRefused(Exception):
    """Zalo's OAuth answered with an error (its code, name and description)."""

    def __init__(self, code: int, name: str, description: str) -> None:
        super().__init__(f"{code} {name}: {description}".strip())
        self.code = code
        self.name = name


@dataclass(frozen=True)
class OaCredentials:
    """What the OA's OAuth needs from the environment."""

    app_id: str
    app_secret: str
    first_refresh_token: str | None
    oauth_base_url: str


def oa_credentials(settings: Settings) -> OaCredentials | None:
    """The OA app's credentials, when ZALO_OA_APP_ID and ZALO_OA_APP_SECRET are both set."""
    secret = settings.zalo_oa_app_secret
    if not settings.zalo_oa_app_id or secret is None or not secret.get_secret_value():
        return None
    first = settings.zalo_oa_refresh_token
    return OaCredentials(
        settings.zalo_oa_app_id,
        secret.get_secret_value(),
        first.get_secret_value() if first is not None and first.get_secret_value() else None,
        settings.zalo_oauth_base_url.rstrip("/"),
    )


async def request_tokens(
    http: httpx.AsyncClient,
    oauth_base_url: str,
    app_secret: str,
    form: Mapping[str, str],
    *,
    now: dt.datetime,
) -> NewPair:
    """One call to Zalo's token endpoint: the new pair; OAuthRefused when Zalo says no,
    TemporaryFailure when it cannot be reached or answers with something else."""
    try:
        response = await http.post(
            f"{oauth_base_url.rstrip('/')}{TOKEN_PATH}",
            data=dict(form),
            headers={"secret_key": app_secret},
            timeout=REFRESH_TIMEOUT,
        )
    except httpx.HTTPError as error:
        raise TemporaryFailure(f"Zalo OAuth unreachable: {type(error).__name__}") from error
    if response.status_code >= 500:
        raise TemporaryFailure(f"Zalo OAuth answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise TemporaryFailure(f"Zalo OAuth answered HTTP {response.status_code}, not JSON")
    return _pair(body, now)


def _pair(body: dict[str, Any], now: dt.datetime) -> NewPair:
    error = body.get("error")
    if error not in (None, 0, "0"):
        raise OAuthRefused(
            _number(error),
            str(body.get("error_name") or ""),
            str(body.get("error_description") or body.get("error_reason") or ""),
        )
    access, refresh = body.get("access_token"), body.get("refresh_token")
    try:
        seconds = int(str(body.get("expires_in")))  # a string, documented and seen
    except ValueError:
        raise TemporaryFailure("Zalo OAuth gave no expires_in") from None
    if not isinstance(access, str) or not isinstance(refresh, str) or not access or not refresh:
        raise TemporaryFailure("Zalo OAuth gave no token pair")
    return NewPair(access, refresh, now + dt.timedelta(seconds=seconds))


def _number(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return -1


class OaTokens:
    """The OA's access token for every API call, refreshed and stored so it is never lost."""

    def __init__(
        self,
        *,
        db: Database,
        http: httpx.AsyncClient,
        oauth_base_url: str,
        app_id: str,
        app_secret: str,
        first_refresh_token: str | None,
        clock: Callable[[], dt.datetime] = utcnow,
        on_outbox: Callable[[], None] | None = None,
    ) -> None:
        self._db = db
        self._http = http
        self._base_url = oauth_base_url
        self._app_id = app_id
        self._secret = app_secret
        self._first = first_refresh_token
        self._clock = clock
        self._on_outbox = on_outbox
        self._row: OaTokenRow | None = None
        self._lock = asyncio.Lock()  # one refresh at a time in this process
        self._problem: str | None = None

    async def start(self) -> None:
        """Seed the tokens from the environment if none are stored, then try the stored
        refresh token at once unless it was refreshed a moment ago. Never raises: lost or
        missing tokens are the problem() /healthz shows, and sending raises TokensLost."""
        try:
            row = await self._load()
            if row.lost_at is not None:
                return
            refreshed = row.refreshed_at
            if refreshed is not None and refreshed > self._clock() - FRESH_AT_START:
                return
            await self._refresh(lambda stored: stored.generation == row.generation)
        except TokensLost:
            return
        except TemporaryFailure as error:  # Zalo away for now: the next send tries again
            log.warning("zalo oa tokens not refreshed at start", extra={"problem": str(error)})

    async def access_token(self) -> str:
        """A valid access token, refreshed an hour before it expires (while Zalo cannot be
        reached, the current one serves until it really expires)."""
        row = self._row if self._row is not None else await self._load()
        if row.lost_at is None and not self._due(row) and row.access_token is not None:
            return row.access_token
        try:
            return await self._refresh(self._due)
        except TokensLost:
            raise
        except TemporaryFailure:
            unexpired = self._unexpired()
            if unexpired is None:
                raise
            return unexpired

    async def rejected(self, token: str) -> str:
        """Zalo refused `token` (-216): a new one, unless another process already replaced
        it (the stored one differs), which is then used."""
        return await self._refresh(lambda stored: stored.access_token in (None, token))

    def problem(self) -> str | None:
        """What keeps the OA from working, for /healthz; None when the tokens are fine."""
        return self._problem

    def _unexpired(self) -> str | None:
        """The access token in hand while it is still valid, though due for a refresh."""
        row = self._row
        if row is None or row.lost_at is not None or row.access_expires_at is None:
            return None
        return row.access_token if row.access_expires_at > self._clock() else None

    def _due(self, row: OaTokenRow) -> bool:
        expires = row.access_expires_at
        return expires is None or expires - REFRESH_AHEAD <= self._clock()

    async def _load(self) -> OaTokenRow:
        """The stored row (seeded or healed from the environment's refresh token)."""
        app_id, first = self._app_id, self._first
        if first is not None:
            row = await self._db.run(
                lambda s: seed_tokens(session=s, app_id=app_id, refresh_token=first)
            )
        else:
            found = await self._db.run(lambda s: read_tokens(session=s, app_id=app_id))
            if found is None:
                self._problem = f"no Zalo OA tokens: run `{CONSENT_COMMAND}`"
                raise TokensLost(self._problem)
            row = found
        return self._keep(row)

    def _keep(self, row: OaTokenRow) -> OaTokenRow:
        self._row = row
        self._problem = None if row.lost_at is None else _lost_problem(row.lost_reason)
        return row

    async def _refresh(self, needed: Callable[[OaTokenRow], bool]) -> str:
        """Refresh under the lock when the re-read row still needs it; its access token."""
        async with self._lock:
            if self._row is None:
                await self._load()
            try:
                row, lost = await self._refresh_held(needed)
            except LockBusy as busy:
                raise TemporaryFailure(str(busy)) from busy
            self._keep(row)
        if lost and self._on_outbox is not None:
            self._on_outbox()
        if row.lost_at is not None or row.access_token is None:
            raise TokensLost(self._problem or "no Zalo OA access token")
        return row.access_token

    async def _refresh_held(self, needed: Callable[[OaTokenRow], bool]) -> tuple[OaTokenRow, bool]:
        """The row re-read under the lock, renewed when it still needs it, and whether it
        was lost just now; what was written is committed when the lock is let go."""
        app_id = self._app_id
        async with refresh_lock(self._db, app_id) as held:
            row = await held.run(lambda s: read_tokens(session=s, app_id=app_id))
            assert row is not None  # seeded by _load
            if row.lost_at is not None or not needed(row):
                return row, False
            try:
                return await self._renew(held, row), False
            except OAuthRefused as refused:
                reason = str(refused)
                lost = await held.run(lambda s: self._lose(s, reason))
            row = await held.run(lambda s: read_tokens(session=s, app_id=app_id))
            assert row is not None
            return row, lost

    async def _renew(self, held: Held, row: OaTokenRow) -> OaTokenRow:
        """Spend the stored refresh token; the new pair is committed before it is returned."""
        form = {
            "refresh_token": row.refresh_token,
            "app_id": self._app_id,
            "grant_type": "refresh_token",
        }
        now = self._clock()
        pair = await request_tokens(self._http, self._base_url, self._secret, form, now=now)
        app_id = self._app_id
        saved = await held.run(lambda s: save_pair(session=s, app_id=app_id, pair=pair, now=now))
        log.info("zalo oa tokens refreshed", extra={"generation": saved.generation})
        return saved

    def _lose(self, session: Session, reason: str) -> bool:
        """Mark the tokens lost and, the first time, queue the admins' alert with it."""
        now = self._clock()
        if not mark_lost(session=session, app_id=self._app_id, reason=reason, now=now):
            return False
        log.error("zalo oa tokens lost", extra={"problem": reason})
        values = {"command": CONSENT_COMMAND, "reason": reason}
        alerts = [Reply(LOST_KEY, values, to=to) for to in admin_recipients(session=session)]
        queue_replies(session, alerts, now=now)
        return True


def _lost_problem(reason: str | None) -> str:
    return f"Zalo refused the OA's refresh token ({reason}): run `{CONSENT_COMMAND}`"


@dataclass(frozen=True)
class Consent:
    """The first step of the consent: the page an admin opens, and what the second step
    needs to check and finish it."""

    url: str
    code_verifier: str
    state: str
    redirect_uri: str


def start_consent(credentials: OaCredentials, redirect_uri: str) -> Consent:
    """A new PKCE (S256) authorisation for the OA's permission page."""
    verifier = secrets.token_urlsafe(64)  # 86 characters: PKCE wants 43 to 128
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    state = secrets.token_urlsafe(16)
    query = urlencode(
        {
            "app_id": credentials.app_id,
            "redirect_uri": redirect_uri,
            "code_challenge": challenge.decode().rstrip("="),
            "state": state,
        }
    )
    return Consent(
        f"{credentials.oauth_base_url}{PERMISSION_PATH}?{query}", verifier, state, redirect_uri
    )


class ConsentAnswerError(ValueError):
    """What an admin pasted is not a code we can use (the reason is a catalog-free word:
    `state`, `denied` or `empty`)."""


def code_from(answer: str, state: str) -> str:
    """The authorization code in what the admin pasted: the whole address Zalo sent their
    browser to (its state must be ours), or the code alone."""
    answer = answer.strip()
    if "://" not in answer and "?" not in answer:
        if not answer:
            raise ConsentAnswerError("empty")
        return answer
    query = parse_qs(urlsplit(answer).query)
    code = (query.get("code") or [""])[0]
    if not code:
        raise ConsentAnswerError(
            "denied" if "error" in query or "error_code" in query else "empty"
        )
    if (query.get("state") or [state])[0] != state:
        raise ConsentAnswerError("state")
    return code


async def exchange_code(
    http: httpx.AsyncClient,
    credentials: OaCredentials,
    code: str,
    verifier: str,
    *,
    now: dt.datetime,
) -> NewPair:
    """The token pair for an authorization code and its PKCE verifier."""
    form = {
        "code": code,
        "app_id": credentials.app_id,
        "grant_type": "authorization_code",
        "code_verifier": verifier,
    }
    return await request_tokens(
        http, credentials.oauth_base_url, credentials.app_secret, form, now=now
    )


def build_tokens(
    settings: Settings,
    db: Database,
    http: httpx.AsyncClient,
    *,
    clock: Callable[[], dt.datetime] = utcnow,
    on_outbox: Callable[[], None] | None = None,
) -> OaTokens | None:
    """The OA's token keeper from the environment; None when the app is not configured."""
    found = oa_credentials(settings)
    if found is None:
        return None
    return OaTokens(
        db=db,
        http=http,
        oauth_base_url=found.oauth_base_url,
        app_id=found.app_id,
        app_secret=found.app_secret,
        first_refresh_token=found.first_refresh_token,
        clock=clock,
        on_outbox=on_outbox,
    )
