"""Secret tokens (session cookies, resume links, one-time sign-in and invitation links) are
kept only as SHA-256 hashes, so a copy of the database lets no one in."""

import hashlib


def digest(token: str) -> str:
    """The stored form of a secret token."""
    return hashlib.sha256(token.encode()).hexdigest()
