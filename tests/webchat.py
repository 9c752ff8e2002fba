"""A browser talking to the web chat over real HTTP, one exchange at a time (no JavaScript:
the page's API calls, as chat.js makes them)."""

import re
import secrets
import time
from typing import Any
from urllib.parse import quote

import httpx

from bot.app import CauNoi
from bot.channels.web.guard import CSRF_HEADER
from storage import web as records

CSRF = re.compile(r'data-csrf="([^"]+)"')
WAIT_SECONDS = 15


class Browser:
    """One browser (its own cookies) on the web chat; each call waits for exactly the
    replies it expects, like tests.dialogue.Chat, so the same dialogue helpers drive both."""

    def __init__(self, app: CauNoi, *, language: str = "vi") -> None:
        self.app = app
        self.base = app.base_url
        self.client = httpx.AsyncClient(
            base_url=self.base, headers={"Accept-Language": language}, timeout=40
        )
        self.csrf = ""
        self.cursor = 0
        self.events: dict[int, dict[str, Any]] = {}  # first id -> latest version

    async def open(self, path: str = "/chat") -> httpx.Response:
        """Load the page (which starts a session when there is none)."""
        page = await self.client.get(path)
        found = CSRF.search(page.text)
        assert found, "the page carries a CSRF token"
        self.csrf = found.group(1)
        return page

    async def close(self) -> None:
        """Let go of the connections."""
        await self.client.aclose()

    @property
    def visitor_id(self) -> str:
        """Whose chat this browser shows (read from the app's own records)."""
        token = self.client.cookies.get("caunoi_session")
        assert token
        return self._visitor_of(token)

    def _visitor_of(self, token: str) -> str:
        now = self.app.clock()
        with self.app.db.session() as session:
            signed_in = records.signed_in(session=session, token=token, now=now)
        assert signed_in is not None
        return signed_in.visitor_id

    @property
    def texts(self) -> list[str]:
        """Everything the bot said in this chat, in order (edited messages as they are now)."""
        return [e["text"] for e in self.events.values() if e["outgoing"]]

    @property
    def mine(self) -> list[str]:
        """What the visitor's side of the chat shows."""
        return [e["text"] for e in self.events.values() if not e["outgoing"]]

    def buttons(self, back: int = 1) -> list[str]:
        """The choice ids under the bot's n-th latest message."""
        outgoing = [e for e in self.events.values() if e["outgoing"]]
        return [choice for row in outgoing[-back].get("choices", []) for choice, _ in row]

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        """A state-changing request as the page makes it (with its CSRF token)."""
        headers = {CSRF_HEADER: self.csrf, **kwargs.pop("headers", {})}
        return await self.client.post(path, headers=headers, **kwargs)

    async def send(self, text: str, *, replies: int = 1) -> list[str]:
        """Type a message and return the bot's replies."""
        body = {"id": secrets.token_hex(8), "text": text}
        return await self._exchange("/chat/api/send", body, replies)

    async def press(self, choice: str, *, replies: int = 1) -> list[str]:
        """Press a button and return the bot's replies."""
        body = {"id": secrets.token_hex(8), "choice": choice}
        return await self._exchange("/chat/api/send", body, replies)

    async def choose_language(self, language: str, *, replies: int = 2) -> list[str]:
        """Press the page's VI/EN switch; return the bot's replies (that it switched, and the
        open question or the menu again)."""
        body = {"id": secrets.token_hex(8), "language": language}
        return await self._exchange("/chat/api/language", body, replies)

    async def upload(
        self, name: str, data: bytes, content_type: str, *, replies: int = 1
    ) -> list[str]:
        """Attach a file and return the bot's replies."""
        before = len(self.texts)
        headers = {
            "X-Event-Id": secrets.token_hex(8),
            "X-File-Name": quote(name),
            "Content-Type": content_type,
        }
        response = await self.post("/chat/api/upload", content=data, headers=headers)
        assert response.status_code == 200, response.text
        return await self._replies(before, replies)

    async def _exchange(self, path: str, body: dict[str, Any], replies: int) -> list[str]:
        before = len(self.texts)
        response = await self.post(path, json=body)
        assert response.status_code == 200, response.text
        return await self._replies(before, replies)

    async def _replies(self, before: int, replies: int) -> list[str]:
        await self.wait_for(lambda: len(self.texts) >= before + min(replies, 1))
        await self.app.outbox.drain()
        await self.catch_up()
        got = self.texts[before:]
        assert len(got) == replies, f"expected {replies} replies, got {got!r}"
        return got

    async def poll(self) -> list[dict[str, Any]]:
        """One long poll: the chat's news after the cursor (waits until there is some)."""
        response = await self.client.get("/chat/api/updates", params={"after": self.cursor})
        assert response.status_code == 200, response.text
        answer = response.json()
        self._take(answer["events"])
        self.cursor = answer["cursor"]
        return list(answer["events"])

    async def catch_up(self) -> None:
        """Read what the chat holds now without waiting (from the app's records)."""
        visitor = self.visitor_id
        with self.app.db.session() as session:
            news = records.messages_after(session=session, chat_id=visitor, after=self.cursor)
        self._take(
            [{"id": e.id, "outgoing": e.outgoing, "replaces": e.replaces, **e.body} for e in news]
        )
        if news:
            self.cursor = news[-1].id

    async def wait_for(self, condition: Any) -> None:
        """Long-poll until the condition holds (each poll returns as soon as news arrives)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while not condition():
            assert time.monotonic() < deadline, "timed out waiting for the web chat"
            await self.poll()

    def _take(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            first = event.get("replaces") or event["id"]
            self.events[first] = event


async def signed_in_staff(app: CauNoi, code: str = "nguyen-van-an") -> Browser:
    """A browser in which a staff member signed in with a one-time link (close it after)."""
    link = await app.sign_in_link(code)
    assert link is not None
    return await signed_in_with(app, link.split("#", 1)[1])


async def signed_in_with(app: CauNoi, token: str) -> Browser:
    """A browser signed in with a one-time link's token (close it after)."""
    browser = Browser(app)
    await browser.open("/chat/signin")
    response = await browser.client.post(
        "/chat/api/signin", json={"token": token}, headers={"Origin": browser.base}
    )
    assert response.status_code == 200, response.text
    await browser.open()
    await browser.wait_for(lambda: len(browser.texts) == 2)  # the welcome and the desk's help
    return browser
