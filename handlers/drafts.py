"""Typed drafts of the dialogue, and their stored form (keys as the JSON column has held
them since the first release, so a person mid-submission keeps their draft across upgrades)."""

from dataclasses import asdict, dataclass, field
from typing import Any

from bot.domain.kinds import Kind
from bot.domain.tickets import AttachmentRef


@dataclass
class SubmissionDraft:
    """An unsent submission: what has been answered so far."""

    kind: Kind
    category: str | None = None
    text: str | None = None
    attachments: list[AttachmentRef] = field(default_factory=list)
    anonymous: bool | None = None  # complaints and questions
    publish: str | None = None  # stories and ideas: named, anonymous or no
    step: str | None = None  # where it was set aside, to resume there
    editing: bool = False  # came from the preview to change one answer

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> "SubmissionDraft":
        """A draft from its stored JSON."""
        return cls(
            kind=Kind(stored["kind"]),
            category=stored.get("category"),
            text=stored.get("text"),
            attachments=[AttachmentRef(**item) for item in stored.get("attachments") or []],
            anonymous=stored.get("anonymous"),
            publish=stored.get("publish"),
            step=stored.get("step"),
            editing=bool(stored.get("editing")),
        )

    def stored(self) -> dict[str, Any]:
        """Its stored JSON: the answers given so far, nothing for those not given."""
        values: dict[str, Any] = {
            "kind": self.kind.value,
            "attachments": [asdict(item) for item in self.attachments],
        }
        optional = {
            "category": self.category,
            "text": self.text,
            "anonymous": self.anonymous,
            "publish": self.publish,
            "step": self.step,
            "editing": self.editing or None,
        }
        return values | {key: value for key, value in optional.items() if value is not None}
