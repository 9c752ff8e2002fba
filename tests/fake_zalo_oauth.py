"""A fake Zalo OAuth v4 server over real HTTP, for the Official Account's tokens.

One endpoint, `POST /v4/oa/access_token`, as documented: a form body, the app's secret in
the `secret_key` header, grant `refresh_token` (refresh_token, app_id) or
`authorization_code` (code, app_id, code_verifier: PKCE S256). Every field is checked and
an unknown one refused. Answers are HTTP 200 either way: tokens with `expires_in` as a
string of seconds, or `{error, error_name, error_reason, error_description}` with a negative
error (the codes are what implementers report [?]; the adapter must not depend on them).
A refresh token is single-use: a used one is refused as invalid. Access tokens expire when
the test says so (expire_access_tokens) or after `lifetime` of the test's clock.
`is_valid(access_token)` is what a fake OA API server asks to check its `access_token` header.

Hooks for crash tests: `hold()` makes refresh answers wait (the refresh is recorded and the
old token burned first, as on Zalo's side) until `release()`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.local_server import LocalServer

APP_ID = "4318223300951218561"  # app ids are long digit strings
APP_SECRET = "fake-zalo-app-secret-key-0123456789"
TOKEN_PATH = "/v4/oa/access_token"
LIFETIME = dt.timedelta(hours=25)
# Each grant's fields: exactly these, all required.
GRANTS: dict[str, frozenset[str]] = {
    "refresh_token": frozenset({"grant_type", "app_id", "refresh_token"}),
    "authorization_code": frozenset({"grant_type", "app_id", "code", "code_verifier"}),
}
INVALID_PARAM = -14003
INVALID_APP = -14002
INVALID_SECRET = -14004
INVALID_CODE = -14008
INVALID_VERIFIER = -14009
INVALID_REFRESH_TOKEN = -14014


def challenge_of(verifier: str) -> str:
    """The PKCE S256 challenge for a verifier: base64url(sha256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class TokenCall:
    """One request to the token endpoint, and whether it gave tokens."""

    grant: str
    form: dict[str, str]
    ok: bool
    error: int = 0


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class FakeZaloOAuth:
    """The fake server's state; start() serves it on 127.0.0.1."""

    app_id: str = APP_ID
    secret_key: str = APP_SECRET
    lifetime: dt.timedelta = LIFETIME
    clock: Callable[[], dt.datetime] = _utcnow
    calls: list[TokenCall] = field(default_factory=list)
    # While set, every request is answered 503 and changes nothing (Zalo down).
    unavailable: bool = False
    # refresh token -> still usable; access token -> when it expires.
    _refresh_tokens: dict[str, bool] = field(default_factory=dict)
    _access_tokens: dict[str, dt.datetime] = field(default_factory=dict)
    # authorization code -> the PKCE challenge it was given for.
    _codes: dict[str, str] = field(default_factory=dict)
    _held: asyncio.Event | None = None
    _changed: asyncio.Condition | None = None
    _http: LocalServer = field(default_factory=LocalServer)

    async def start(self, port: int = 0) -> None:
        """Serve on a local port (a free one by default) until stop()."""
        self._changed = asyncio.Condition()
        await self._http.start(self.asgi(), port)

    async def stop(self) -> None:
        """Release held answers and stop serving."""
        self.release()
        await self._http.stop()

    @property
    def base_url(self) -> str:
        """What ZALO_OAUTH_BASE_URL should be to use this server."""
        return self._http.origin

    # ---- what tests do ----------------------------------------------------------------

    def consent(self) -> str:
        """A refresh token as the consent flow hands one out (for ZALO_OA_REFRESH_TOKEN)."""
        return self._new_refresh_token()

    def authorize(self, code_challenge: str) -> str:
        """What the admin's browser gets after consenting on Zalo's permission page for this
        challenge: the authorization code (single-use)."""
        code = secrets.token_urlsafe(24)
        self._codes[code] = code_challenge
        return code

    def is_valid(self, access_token: str) -> bool:
        """Whether an access token was issued here and has not expired."""
        expires = self._access_tokens.get(access_token)
        return expires is not None and self.clock() < expires

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is expired from now on."""
        now = self.clock()
        self._access_tokens = dict.fromkeys(self._access_tokens, now)

    def burn(self, refresh_token: str) -> None:
        """Spend a refresh token as a refresh whose answer never arrived would have."""
        self._refresh_tokens[refresh_token] = False

    def is_live_refresh_token(self, token: str) -> bool:
        """Whether a refresh token would still be accepted."""
        return self._refresh_tokens.get(token, False)

    @property
    def refreshes(self) -> int:
        """How many refreshes gave tokens."""
        return sum(1 for c in self.calls if c.grant == "refresh_token" and c.ok)

    @property
    def refused_refreshes(self) -> int:
        """How many refreshes were refused."""
        return sum(1 for c in self.calls if c.grant == "refresh_token" and not c.ok)

    def used_twice(self) -> list[str]:
        """Refresh tokens presented more than once (must never happen)."""
        seen: dict[str, int] = {}
        for c in self.calls:
            if c.grant == "refresh_token":
                token = c.form.get("refresh_token", "")
                seen[token] = seen.get(token, 0) + 1
        return [token for token, count in seen.items() if count > 1]

    def hold(self) -> None:
        """From now on a refresh is recorded (its token burned) but answered only on release()."""
        self._held = asyncio.Event()

    def release(self) -> None:
        """Answer held refreshes, and stop holding."""
        if self._held is not None:
            self._held.set()
            self._held = None

    async def wait_for(self, predicate: Callable[[], bool], seconds: float = 15) -> None:
        """Wait until the predicate holds, re-checking after every request."""
        assert self._changed is not None
        async with asyncio.timeout(seconds), self._changed:
            await self._changed.wait_for(predicate)

    # ---- the server -------------------------------------------------------------------

    def asgi(self) -> Starlette:
        """The ASGI application."""
        return Starlette(routes=[Route(TOKEN_PATH, self._endpoint, methods=["POST"])])

    async def _endpoint(self, request: Request) -> Response:
        if self.unavailable:
            return JSONResponse({"error": -1, "message": "unavailable"}, status_code=503)
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return self._refuse("", {}, INVALID_PARAM, "Invalid parameter", "not a form body")
        form = {key: str(value) for key, value in (await request.form()).items()}
        grant = form.get("grant_type", "")
        fields = GRANTS.get(grant)
        if fields is None or set(form) != fields or not all(form.values()):
            return self._refuse(grant, form, INVALID_PARAM, "Invalid parameter", str(sorted(form)))
        if form["app_id"] != self.app_id:
            return self._refuse(grant, form, INVALID_APP, "Invalid app id", "app_id")
        if not secrets.compare_digest(request.headers.get("secret_key", ""), self.secret_key):
            return self._refuse(grant, form, INVALID_SECRET, "Invalid secret key", "secret_key")
        if grant == "refresh_token":
            return await self._refresh(form)
        return self._exchange(form)

    async def _refresh(self, form: dict[str, str]) -> Response:
        token = form["refresh_token"]
        if not self._refresh_tokens.get(token, False):
            return self._refuse(
                "refresh_token", form, INVALID_REFRESH_TOKEN, "Invalid refresh token", "used"
            )
        self._refresh_tokens[token] = False  # single-use: burned before anything is answered
        answer = self._tokens()
        self._record(TokenCall("refresh_token", form, ok=True))
        held = self._held
        if held is not None:
            await held.wait()
        return answer

    def _exchange(self, form: dict[str, str]) -> Response:
        challenge = self._codes.pop(form["code"], None)
        if challenge is None:
            return self._refuse(
                "authorization_code", form, INVALID_CODE, "Invalid code", "unknown or used"
            )
        if not secrets.compare_digest(challenge_of(form["code_verifier"]), challenge):
            return self._refuse(
                "authorization_code", form, INVALID_VERIFIER, "Invalid code verifier", "PKCE"
            )
        answer = self._tokens()
        self._record(TokenCall("authorization_code", form, ok=True))
        return answer

    def _tokens(self) -> JSONResponse:
        access = secrets.token_urlsafe(32)
        self._access_tokens[access] = self.clock() + self.lifetime
        body = {
            "access_token": access,
            "refresh_token": self._new_refresh_token(),
            "expires_in": str(int(self.lifetime.total_seconds())),  # a string, as Zalo sends
        }
        return JSONResponse(body)

    def _new_refresh_token(self) -> str:
        token = secrets.token_urlsafe(48)
        self._refresh_tokens[token] = True
        return token

    def _refuse(
        self, grant: str, form: dict[str, str], error: int, name: str, reason: str
    ) -> Response:
        self._record(TokenCall(grant, form, ok=False, error=error))
        body: dict[str, Any] = {
            "error": error,
            "error_name": name,
            "error_reason": reason,
            "error_description": f"{name}: {reason}",
        }
        return JSONResponse(body)  # HTTP 200, as Zalo answers its errors

    def _record(self, call: TokenCall) -> None:
        self.calls.append(call)
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()
