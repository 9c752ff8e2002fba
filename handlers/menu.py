"""The main menu."""

from bot.domain.kinds import Kind
from bot.domain.messages import Choice, Reply

ITEMS = (
    (Kind.COMPLAINT, Kind.QUESTION),
    (Kind.IDEA, Kind.STORY),
    (Kind.CONFIDENTIAL,),
    ("mine", "settings"),
    ("help",),
)


def main_menu(key: str = "menu.ask") -> Reply:
    """What the person can do, as buttons."""
    choices = tuple(tuple(Choice(f"menu:{item}", f"menu.{item}") for item in row) for row in ITEMS)
    return Reply(key, choices=choices)
