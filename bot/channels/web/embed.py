"""The chat on the Union's own website: /chat/embed.js, one line on any of its pages, adds a
chat button that opens the chat in a panel (a frame of /chat, which only the sites listed in
channels.web.embed_origins may show)."""

import json
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from bot.channels.web.page import asset
from bot.config import OrgConfig
from bot.domain.i18n import LANGUAGES, text

EMBED_KEYS = ("open", "close", "title")
LABELS = "__CAUNOI_LABELS__"  # where the script's texts go, in every language
# A site's pages load the script on every visit: cached an hour, so a change reaches them soon.
SCRIPT_HEADERS = {
    "Cache-Control": "public, max-age=3600",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "cross-origin",
}


@dataclass
class Embed:
    """The embed script's route."""

    config: OrgConfig

    def __post_init__(self) -> None:
        self._script = asset("embed.js").replace(
            LABELS, json.dumps(self.labels(), ensure_ascii=False), 1
        )

    def labels(self) -> dict[str, dict[str, str]]:
        """The button's and panel's texts, per language."""
        organisation = self.config.raw.organisation.name
        return {
            language: {
                key: text(
                    f"embed.{key}", language, organisation=str(getattr(organisation, language))
                )
                for key in EMBED_KEYS
            }
            for language in LANGUAGES
        }

    async def script(self, _: Request) -> Response:
        """The script a page of the Union's site loads."""
        return Response(
            self._script, media_type="text/javascript; charset=utf-8", headers=SCRIPT_HEADERS
        )
