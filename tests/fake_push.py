"""A fake Web Push service on 127.0.0.1: it hands out endpoints for subscribers whose keys
the test made, checks each push as a real service would (VAPID, RFC 8292: a JWT signed
ES256 by the app's key, for this origin, not expired; TTL; aes128gcm), decrypts it
(RFC 8291) with the subscriber's private key, and records what it got. It can be told to
answer an endpoint with other statuses first (410 gone, 429 busy)."""

import asyncio
import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.local_server import LocalServer

MAX_JWT_SECONDS = 24 * 3600  # RFC 8292: no more than a day ahead


def b64(raw: bytes) -> str:
    """base64url without padding, as Web Push writes keys."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(value: str) -> bytes:
    """base64url with or without padding."""
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@dataclass
class Subscriber:
    """A browser's side of a subscription: its endpoint, its keys, and what it may be sent."""

    name: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @property
    def p256dh(self) -> str:
        """The public key the browser gives the app."""
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64(point)

    def subscription(self) -> dict[str, Any]:
        """What PushSubscription.toJSON() gives the page."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": b64(self.auth)}}


@dataclass(frozen=True)
class Push:
    """One push the service took: for whom, what it decrypted to, and its headers."""

    subscriber: str
    payload: dict[str, Any]
    headers: dict[str, str]


@dataclass
class FakePushService:
    """The fake push service; `app_key` is the app's VAPID public key (base64url), once known."""

    app_key: str | None = None
    pushes: list[Push] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why pushes were refused, in order
    _subscribers: dict[str, Subscriber] = field(default_factory=dict)
    _answers: dict[str, list[int]] = field(default_factory=dict)
    _http: LocalServer = field(default_factory=LocalServer)
    _changed: asyncio.Condition | None = None

    async def start(self) -> None:
        """Serve on 127.0.0.1, a free port."""
        self._changed = asyncio.Condition()
        app = Starlette(routes=[Route("/push/{name}", self._push, methods=["POST"])])
        await self._http.start(app)

    async def stop(self) -> None:
        """Stop serving."""
        await self._http.stop()

    @property
    def origin(self) -> str:
        """Where the service is reached: the audience its JWTs must name."""
        return self._http.origin

    def subscriber(self) -> Subscriber:
        """A new browser subscription at a fresh endpoint, with keys of its own."""
        name = secrets.token_urlsafe(12)
        made = Subscriber(
            name,
            f"{self.origin}/push/{name}",
            ec.generate_private_key(ec.SECP256R1()),
            secrets.token_bytes(16),
        )
        self._subscribers[name] = made
        return made

    def subscriber_at(self, endpoint: str) -> Subscriber:
        """A browser subscription at an endpoint of another service (one that is down)."""
        key = ec.generate_private_key(ec.SECP256R1())
        return Subscriber("elsewhere", endpoint, key, secrets.token_bytes(16))

    def answer(self, subscriber: Subscriber, *statuses: int) -> None:
        """Answer the next pushes to this subscriber with these statuses, in turn."""
        self._answers[subscriber.name] = list(statuses)

    def to(self, subscriber: Subscriber) -> list[dict[str, Any]]:
        """The decrypted pushes a subscriber got."""
        return [p.payload for p in self.pushes if p.subscriber == subscriber.name]

    async def wait_for(self, predicate: Any, seconds: float = 15) -> None:
        """Wait until the predicate holds, re-checked after every push."""
        assert self._changed is not None
        async with asyncio.timeout(seconds), self._changed:
            await self._changed.wait_for(predicate)

    async def _push(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await request.body()
        subscriber = self._subscribers.get(name)
        if subscriber is None:
            return await self._done(404, "no such endpoint")
        problem = self._check(request)
        if problem is not None:
            return await self._done(400, problem)
        try:
            plain = http_ece.decrypt(
                body,
                private_key=subscriber.private_key,
                auth_secret=subscriber.auth,
                version="aes128gcm",
            )
        except Exception as error:  # what a real service would refuse to deliver
            return await self._done(400, f"cannot decrypt: {error!r}")
        waiting = self._answers.get(name)
        if waiting:
            status = waiting.pop(0)
            headers = {"Retry-After": "0"} if status == 429 else {}
            return await self._done(status, f"told to answer {status}", headers)
        self.pushes.append(Push(name, json.loads(plain), dict(request.headers)))
        return await self._done(201, None)

    def _check(self, request: Request) -> str | None:
        """Why a real service would refuse these headers, or None."""
        if request.headers.get("content-encoding") != "aes128gcm":
            return "Content-Encoding is not aes128gcm"
        if not request.headers.get("ttl", "").isdigit():
            return "no TTL"
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        parts = dict(p.split("=", 1) for p in given.split(",") if "=" in p)
        if scheme != "vapid" or "t" not in parts or "k" not in parts:
            return "no VAPID authorization"
        if self.app_key is not None and parts["k"] != self.app_key:
            return "signed by another key"
        return _check_jwt(parts["t"], parts["k"], self.origin)

    async def _done(
        self, status: int, problem: str | None, headers: dict[str, str] | None = None
    ) -> Response:
        assert self._changed is not None
        if problem is not None and status == 400:
            self.refused.append(problem)
        async with self._changed:
            self._changed.notify_all()
        return Response(status_code=status, headers=headers)


def _check_jwt(token: str, key: str, audience: str) -> str | None:
    """Why this JWT is not a valid VAPID claim for the audience, signed by key; or None."""
    try:
        header_part, claims_part, signature_part = token.split(".")
        header = json.loads(unb64(header_part))
        claims = json.loads(unb64(claims_part))
        signature = unb64(signature_part)
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(key))
    except ValueError as error:
        return f"malformed JWT: {error}"
    if header.get("alg") != "ES256" or len(signature) != 64:
        return "not ES256"
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        public.verify(der, f"{header_part}.{claims_part}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return "bad JWT signature"
    if claims.get("aud") != audience:
        return f"aud is {claims.get('aud')!r}, not {audience!r}"
    expires = claims.get("exp")
    if not isinstance(expires, int) or not time.time() < expires <= time.time() + MAX_JWT_SECONDS:
        return "exp not within the next day"
    if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
        return "no sub contact"
    return None
