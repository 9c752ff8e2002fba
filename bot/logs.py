"""Structured logs: one JSON object a line, secrets masked, no message bodies at INFO."""

import json
import logging
import re
from collections.abc import Iterable

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_BOT_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON line, with its extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Format the record as JSON."""
        entry: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class RedactSecrets(logging.Filter):
    """Mask known secrets and anything shaped like a bot token, wherever they appear."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace secrets in the rendered message."""
        message = record.getMessage()
        cleaned = _BOT_TOKEN.sub("***", message)
        for secret in self._secrets:
            cleaned = cleaned.replace(secret, "***")
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def setup_logging(level: str, secrets: Iterable[str]) -> None:
    """Send JSON logs to stderr; keep chatty libraries (which log URLs) at WARNING."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "apscheduler", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
