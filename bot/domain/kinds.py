"""The kinds of submission and the roles people can hold."""

from enum import StrEnum


class Kind(StrEnum):
    """The five kinds of submission."""

    COMPLAINT = "complaint"
    QUESTION = "question"
    IDEA = "idea"
    STORY = "story"
    CONFIDENTIAL = "confidential"


class Role(StrEnum):
    """What a person may do beyond being a young person."""

    STAFF = "staff"
    SECRETARY = "secretary"
    INSPECTION = "inspection"
    MODERATOR = "moderator"
    ADMIN = "admin"
