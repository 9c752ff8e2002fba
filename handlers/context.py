"""What a handler sees of the person and their dialogue, and may change."""

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Context:
    """The person's language and dialogue state; the dispatcher loads and saves it."""

    language: str
    first_contact: bool
    organisation_name: str
    flow: str | None = None
    step: str | None = None
    draft: dict[str, Any] = field(default_factory=dict)
    stopped: bool = False

    def reset_dialogue(self) -> None:
        """Leave any dialogue, dropping its step but not the person's settings."""
        self.flow = None
        self.step = None
