"""The kinds of submission and the roles people can hold."""

from enum import StrEnum


class Kind(StrEnum):
    """The five kinds of submission."""

    COMPLAINT = "complaint"
    QUESTION = "question"
    IDEA = "idea"
    STORY = "story"
    CONFIDENTIAL = "confidential"


# What may be counted outside the inspection committee: every kind but confidential reports,
# whose very number is the committee's alone.
PUBLIC_KINDS = tuple(kind for kind in Kind if kind is not Kind.CONFIDENTIAL)


class Role(StrEnum):
    """What a person may do beyond being a young person."""

    STAFF = "staff"
    SECRETARY = "secretary"
    INSPECTION = "inspection"
    MODERATOR = "moderator"
    ADMIN = "admin"
