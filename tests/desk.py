"""Staff at the desk through the fake Bot API: presses and messages in groups and private
chats, each waiting for exactly the messages (sent or edited, in any chat) it expects."""

import contextlib
import time
from collections.abc import Callable
from typing import Any

from bot.app import CauNoi
from tests.conftest import config_with
from tests.dialogue import CODE as CODE
from tests.fake_telegram import Call, FakeTelegram

YOUTH = 6001
AN, BINH, OFFICE, CHAU, INSPECTION = 7001, 7002, 7003, 7004, 7005
GO_DAU_GROUP, ENVIRONMENT_GROUP = -1001, -1002
OUTGOING = (
    "sendMessage",
    "editMessageText",
    "sendDocument",
    "sendPhoto",
    "sendMediaGroup",
    "sendVoice",
    "sendAudio",
    "sendVideo",
    "sendVideoNote",
)


def desk_config(**changes: Any) -> Any:
    """Staff with Telegram ids (Trần Thị Bình also moderates stories), a Gò Dầu desk group and
    an environment group; `changes` adds or replaces other sections."""
    go_dau = ["Phường Gò Dầu"]
    staff = [
        _member("van-phong", "Văn phòng Tỉnh đoàn", ["staff", "admin"], OFFICE),
        _member(
            "nguyen-van-an",
            "Nguyễn Văn An",
            ["staff"],
            AN,
            units=go_dau,
            categories=["food-safety", "environment", "jobs", "membership"],
        ),
        _member(
            "tran-thi-binh",
            "Trần Thị Bình",
            ["staff", "moderator"],
            BINH,
            units=["Phường Tân Ninh"],
        ),
        _member("le-minh-chau", "Lê Minh Châu", ["secretary"], CHAU, units=go_dau),
        _member("uy-ban-kiem-tra", "Ủy ban Kiểm tra", ["inspection"], INSPECTION),
    ]
    rules = [
        {
            "kinds": ["complaint"],
            "categories": ["environment"],
            "group_chat_id": ENVIRONMENT_GROUP,
        },
        {
            "kinds": ["complaint", "question"],
            "units": go_dau,
            "group_chat_id": GO_DAU_GROUP,
            "staff": ["nguyen-van-an"],
        },
        {
            "kinds": ["complaint", "question"],
            "units": ["Phường Tân Ninh"],
            "staff": ["tran-thi-binh"],
        },
    ]
    routing = {
        "rules": rules,
        "office": {"staff": ["van-phong"]},
        "inspection": {"staff": ["uy-ban-kiem-tra"]},
    }
    return config_with({"staff": staff, "routing": routing, **changes})


def _member(code: str, name: str, roles: list[str], telegram_id: int, **scope: Any) -> Any:
    return {"code": code, "name": name, "roles": roles, "telegram_id": telegram_id, **scope}


class Desk:
    """The bot's side of every chat at once, for staff actions and scheduled jobs."""

    def __init__(self, fake: FakeTelegram, app: CauNoi) -> None:
        self.fake = fake
        self.app = app

    def outgoing(self) -> list[Call]:
        """Every message the bot sent or edited so far."""
        return [c for c in self.fake.calls if c.method in OUTGOING and c.status == 200]

    async def press(
        self, user: int, data: str, *, chat: int | None = None, sends: int
    ) -> list[Call]:
        """A staff member (or anyone) presses a button; wait for `sends` messages."""
        return await self._exchange(lambda: self.fake.press(user, data, chat_id=chat), sends)

    async def say(
        self,
        user: int,
        text: str,
        *,
        chat: int | None = None,
        reply_to: int | None = None,
        sends: int,
    ) -> list[Call]:
        """A message in a private chat or a group, optionally replying to a bot message."""
        where = chat if chat is not None else user
        extra: dict[str, Any] = {
            "chat": {
                "id": where,
                "type": "private" if where > 0 else "supergroup",
                "title": "Desk",
            }
        }
        if reply_to is not None:
            extra["reply_to_message"] = {
                "message_id": reply_to,
                "date": int(time.time()),
                "chat": extra["chat"],
                "text": "…",
            }
        return await self._exchange(lambda: self.fake.message(user, text, **extra), sends)

    async def photo(self, user: int, file_id: str, *, sends: int) -> list[Call]:
        """A photo (no caption) in a user's private chat."""
        photo = [{"file_id": file_id, "file_unique_id": f"u-{file_id}", "width": 1, "height": 1}]
        return await self._exchange(lambda: self.fake.message(user, None, photo=photo), sends)

    async def action(
        self, user: int, name: str, code: str, body: str, *, chat: int | None = None, sends: int
    ) -> list[Call]:
        """Press an action that asks for a text (its prompt is one message), then type it."""
        await self.press(user, f"t:{name}:{code}", chat=chat, sends=1)
        return await self.say(user, body, chat=chat, sends=sends)

    async def after(self, job: Callable[[], Any], sends: int) -> list[Call]:
        """Run a scheduled job and wait for exactly the messages it queues."""
        before = len(self.outgoing())
        await job()
        return await self._collect(before, sends)

    async def _exchange(self, act: Callable[[], int], sends: int) -> list[Call]:
        before = len(self.outgoing())
        update_id = act()
        await self.fake.wait_for(lambda: self.fake.confirmed_offset > update_id)
        return await self._collect(before, sends)

    async def _collect(self, before: int, sends: int) -> list[Call]:
        with contextlib.suppress(TimeoutError):
            await self.fake.wait_for(lambda: len(self.outgoing()) >= before + sends, seconds=10)
        await self.app.outbox.drain()
        got = self.outgoing()[before:]
        assert len(got) == sends, f"expected {sends} messages, got {_summary(got)}"
        return got

    async def cards_reach(self, code: str, *chats: int) -> None:
        """Wait until each chat has received the card of a submission."""
        await self.fake.wait_for(
            lambda: all(self.fake.message_ids(chat, f"📋 {code}") for chat in chats)
        )

    def card_id(self, chat: int, code: str) -> int:
        """The id of the card of a submission in a chat."""
        [message_id] = self.fake.message_ids(chat, f"📋 {code}")
        return message_id

    def card(self, chat: int, code: str) -> str:
        """The card of a submission as the chat shows it now."""
        return self.fake.shown(chat, self.card_id(chat, code))


def to(calls: list[Call], chat: int) -> list[str]:
    """The texts (or captions) among these calls that went to one chat."""
    return [
        str(c.params.get("text", c.params.get("caption")))
        for c in calls
        if str(c.params.get("chat_id")) == str(chat)
    ]


def _summary(calls: list[Call]) -> list[tuple[str, Any, str]]:
    return [(c.method, c.params.get("chat_id"), str(c.params.get("text"))[:60]) for c in calls]
