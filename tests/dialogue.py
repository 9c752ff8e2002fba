"""A young person talking to the bot through the fake Bot API, one exchange at a time."""

import re
from typing import Any, Protocol

from bot.app import CauNoi
from bot.config import OrgConfig
from tests.fake_telegram import FakeTelegram

CODE = re.compile(r"[A-Z]{2}-\d{4}-\d{4}")


class Chat:
    """One user's private chat; each call waits for exactly the replies it expects."""

    def __init__(self, fake: FakeTelegram, app: CauNoi, user: int) -> None:
        self.fake = fake
        self.app = app
        self.user = user

    @property
    def texts(self) -> list[str]:
        """Everything the bot said in this chat, in order."""
        return self.fake.texts(self.user)

    async def send(self, text: str | None = None, *, replies: int = 1, **extra: Any) -> list[str]:
        """Send a message (text, or e.g. photo=[...]) and return the bot's replies."""
        return await self._exchange(lambda: self.fake.message(self.user, text, **extra), replies)

    async def press(self, data: str, *, replies: int = 1) -> list[str]:
        """Press a button and return the bot's replies."""
        return await self._exchange(lambda: self.fake.press(self.user, data), replies)

    def buttons(self, back: int = 1) -> list[str]:
        """The button ids under the bot's n-th latest message in this chat."""
        message = self.fake.sent(chat_id=self.user)[-back]
        rows = message.get("reply_markup", {}).get("inline_keyboard", [])
        return [button["callback_data"] for row in rows for button in row]

    async def _exchange(self, act: Any, replies: int) -> list[str]:
        before = len(self.texts)
        update_id = act()
        await self.fake.wait_for(lambda: self.fake.confirmed_offset > update_id)
        # The replies are committed with the update; once it is handled, drain sends them all.
        await self.fake.wait_for(lambda: len(self.texts) >= before + min(replies, 1))
        await self.app.outbox.drain()
        got = self.texts[before:]
        assert len(got) == replies, f"expected {replies} replies, got {got!r}"
        return got


class Talk(Protocol):
    """A chat on any channel: Telegram's (Chat) or the web chat's (tests.webchat.Browser)."""

    async def send(self, text: str, *, replies: int = 1) -> list[str]:
        """Type a message; return the bot's replies."""
        ...

    async def press(self, choice: str, *, replies: int = 1) -> list[str]:
        """Press a button; return the bot's replies."""
        ...

    def buttons(self, back: int = 1) -> list[str]:
        """The choice ids under the bot's n-th latest message."""
        ...


async def onboard(chat: Talk, config: OrgConfig, unit: str = "Phường Gò Dầu") -> None:
    """Consent, choose a unit, skip the optional questions: the main menu is showing."""
    await chat.send("/start", replies=2)
    await chat.press("consent:yes", replies=2)
    await chat.send(unit, replies=1)
    found = config.unit(unit)
    assert found is not None
    await chat.press(f"unit:{found.code}", replies=2)
    await chat.press("age:skip")
    await chat.press("work:skip", replies=2)


async def onboarded(
    fake: FakeTelegram, make_app: Any, config: OrgConfig, user: int, **app_args: Any
) -> Chat:
    """Start the app and bring one young person through onboarding to the main menu."""
    app = await make_app(config=config, **app_args)
    chat = Chat(fake, app, user)
    await onboard(chat, config)
    return chat


async def start_draft(chat: Talk, kind: str, category: str, body: str) -> None:
    """From the menu: choose a kind and a category and type the text (attachments come next)."""
    await chat.press(f"menu:{kind}")
    await chat.press(category)
    await chat.send(body)


async def submit(chat: Talk, kind: str, body: str, privacy: str | None = None) -> list[str]:
    """Go through a whole submission from the menu (first category) and send it; return the
    receipt and the menu."""
    replies = 2 if kind == "confidential" else 1
    await chat.press(f"menu:{kind}", replies=replies)
    category = chat.buttons()[0]
    await chat.press(category)
    await chat.send(body)
    await chat.press("att:done")
    if privacy is not None:
        await answer_privacy(chat, privacy)
    return await chat.press("preview:send", replies=2)


TYPED_NAME = "Lê Thị Hoa"


async def answer_privacy(chat: Talk, privacy: str, name: str = TYPED_NAME) -> None:
    """Answer the privacy question; asked for a name (a channel that gives none), type it
    and skip the contact: the preview is showing."""
    await chat.press(privacy)
    if "name:anonymous" in chat.buttons():
        await chat.send(name, replies=2)
        await chat.press("contact:skip")


async def send_named(chat: Talk) -> str:
    """After the attachments step: continue, file it under one's name, send it; its code."""
    await chat.press("att:done")
    await answer_privacy(chat, "anon:no")
    receipt, _menu = await chat.press("preview:send", replies=2)
    found = CODE.search(receipt)
    assert found is not None, receipt
    return found.group()
