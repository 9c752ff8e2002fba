"""The platform-neutral domain: it imports neither a channel library nor the ORM."""
