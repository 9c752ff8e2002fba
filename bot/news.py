"""The public good-news page and its Atom feed, so the Union's website can show the daily
posts and the weekly digests (the web channel's public side)."""

import datetime as dt
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from bot.channels.base import FileSource
from bot.channels.web.guard import SECURITY_HEADERS, base_of
from bot.channels.web.page import asset
from bot.config import OrgConfig
from bot.domain.clock import show_date
from bot.domain.i18n import text
from bot.domain.publishing import DAILY_POST, Post
from bot.domain.text import xml_safe
from storage.db import Database
from storage.publishing import SqlPublishingRecords

ATOM = "http://www.w3.org/2005/Atom"
LANGUAGE = "vi"
PAGE_POSTS = 60
FEED_POSTS = 30
CODE = re.compile(r"^[A-Z]{2}-\d{4}-\d{1,10}$")  # a submission's reference code
# Served only when the bytes are one of these images (never anything a browser might run).
IMAGES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF8", "image/gif"),
)


@dataclass
class News:
    """The /news page and /news/feed.xml."""

    db: Database
    config: OrgConfig
    public_url: str | None
    file_sources: Mapping[str, FileSource] = field(default_factory=dict)

    def routes(self) -> list[Route]:
        """The public routes."""
        return [
            Route("/news", self.page),
            Route("/news/feed.xml", self.feed),
            Route("/news/photo/{code}", self.photo),
        ]

    async def _posts(self, limit: int) -> list[Post]:
        return await self.db.run(
            lambda session: SqlPublishingRecords(session=session).posts(limit)
        )

    @property
    def _organisation(self) -> str:
        return str(self.config.raw.organisation.name.vi)

    async def page(self, request: Request) -> Response:
        """Every post, newest first; each has an anchor named after its period."""
        zone = ZoneInfo(self.config.raw.organisation.timezone)
        posts = await self._posts(PAGE_POSTS)
        codes = [p.period for p in posts if p.kind == DAILY_POST]
        with_photo = await self.db.run(
            lambda session: SqlPublishingRecords(session=session).with_photo(codes)
        )
        tell = f'<a class="tell" href="/chat">{escape(text("embed.tell_yours", LANGUAGE))}</a>'
        items = "".join(
            f'<article id="{escape(p.period)}"><h2>{escape(_heading(p))}</h2>'
            f"<time>{show_date(p.posted_at, zone)}</time>"
            + (_photo_tag(p.period) if p.period in with_photo else "")
            + f"<p>{escape(xml_safe(p.text))}</p>{tell}</article>"
            for p in posts
        )
        empty = f"<p>{escape(text('publish.news_empty', LANGUAGE))}</p>"
        values = {
            "title": escape(text("publish.news_title", LANGUAGE, organisation=self._organisation)),
            "intro": escape(text("publish.news_intro", LANGUAGE)),
            "feed": escape(text("publish.news_feed", LANGUAGE)),
            "tell": escape(text("embed.tell_yours", LANGUAGE)),
            "posts": items or empty,
        }
        page = string.Template(asset("news.html")).substitute(values)
        headers = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=300"}
        return HTMLResponse(page, headers=headers)

    async def photo(self, request: Request) -> Response:
        """The photo of a published story, unless a moderator hid it; only real images."""
        code = request.path_params["code"]
        if not CODE.match(code):
            return Response(status_code=404)
        found = await self._photo(code)
        kind = _image_type(found[1]) if found else None
        if found is None or kind is None:
            return Response(status_code=404)
        return Response(
            found[1], media_type=kind, headers={"Cache-Control": "public, max-age=3600"}
        )

    async def _photo(self, code: str) -> tuple[str, bytes] | None:
        """A published story's shown photo, fetched from the channel it came in on."""
        found = await self.db.run(
            lambda session: SqlPublishingRecords(session=session).published_photo(code)
        )
        source = self.file_sources.get(found[1]) if found else None
        return await source(found[0]) if found and source else None

    async def feed(self, request: Request) -> Response:
        """The posts as an Atom feed."""
        base = base_of(self.public_url, request)
        posts = await self._posts(FEED_POSTS)
        root = ET.Element("feed", xmlns=ATOM)
        title = text("publish.news_title", LANGUAGE, organisation=self._organisation)
        ET.SubElement(root, "title").text = title
        ET.SubElement(root, "id").text = f"{base}/news"
        ET.SubElement(root, "link", rel="self", href=f"{base}/news/feed.xml")
        ET.SubElement(root, "link", rel="alternate", href=f"{base}/news")
        newest = posts[0].posted_at if posts else dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        ET.SubElement(root, "updated").text = newest.isoformat()
        ET.SubElement(ET.SubElement(root, "author"), "name").text = self._organisation
        for post in posts:
            # Text stored before input was cleaned may hold characters XML forbids.
            body = xml_safe(post.text)
            entry = ET.SubElement(root, "entry")
            ET.SubElement(entry, "id").text = f"{base}/news#{post.period}"
            ET.SubElement(entry, "title").text = _heading(post)
            ET.SubElement(entry, "link", rel="alternate", href=f"{base}/news#{post.period}")
            ET.SubElement(entry, "updated").text = post.posted_at.isoformat()
            ET.SubElement(entry, "content", type="text").text = body
        xml = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        return Response(xml, media_type="application/atom+xml; charset=utf-8")


def _photo_tag(code: str) -> str:
    return f'<img src="/news/photo/{escape(code)}" alt="" loading="lazy">'


def _image_type(data: bytes) -> str | None:
    return next((kind for magic, kind in IMAGES if data.startswith(magic)), None)


def _heading(post: Post) -> str:
    """A post's title: its story's own, else its first line of words (a digest's heading)."""
    if post.title:
        return xml_safe(post.title)
    body = xml_safe(post.text)
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    return lines[0] if lines else body[:60]
