"""Thumbnails of photos on the web chat (the visitor's own and a ticket's for staff) and a
location shared from the browser, over real HTTP on the real app."""

import io
import struct
import zlib
from collections.abc import AsyncIterator

import pytest
from PIL import ExifTags, Image

from bot.app import CauNoi
from bot.channels.web.files import location_of
from bot.channels.web.thumbs import THUMB_SIDE, thumbnail
from bot.domain.i18n import text
from bot.domain.messages import UPLOAD_PREFIX
from storage.models import WebUpload
from tests.conftest import AppFactory, rows
from tests.dialogue import Chat, onboard, send_named
from tests.fake_telegram import FakeTelegram
from tests.webchat import Browser, signed_in_staff

COMPLAINT = "Quán ăn đầu hẻm 12 đường Hùng Vương bán đồ ăn để qua đêm, nhiều bạn bị đau bụng."
ROTATED = 6  # EXIF orientation: the camera was turned, the picture is to be rotated 90°


def photo_with_gps(size: tuple[int, int] = (800, 400)) -> bytes:
    """A JPEG taken with the camera turned, carrying where it was taken."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = ROTATED
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (11.0, 8.0, 30.0)
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "JPEG", exif=exif.tobytes(), quality=95)
    return out.getvalue()


def png(size: tuple[int, int] = (640, 640)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (0, 90, 170, 128)).save(out, "PNG")
    return out.getvalue()


def bomb(side: int = 30_000) -> bytes:
    """A tiny PNG whose header claims side x side pixels (a decompression bomb)."""
    small = png((8, 8))
    header = struct.pack(">II", side, side) + small[24:29]
    chunk = b"IHDR" + header
    patched = struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return small[:8] + patched + small[33:]


def test_a_thumbnail_is_small_upright_and_has_no_metadata() -> None:
    original = photo_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)
    made = thumbnail(original)
    assert made is not None
    assert len(made) < len(original)
    image = Image.open(io.BytesIO(made))
    assert (image.format, image.size) == ("JPEG", (THUMB_SIDE // 2, THUMB_SIDE))
    assert not image.getexif(), "no EXIF at all: neither GPS nor orientation"
    assert "icc_profile" not in image.info


@pytest.mark.parametrize(
    ("data", "made"),
    [
        (photo_with_gps(), True),
        (png(), True),
        (b"%PDF-1.7 not an image", False),
        (b"\xff\xd8" + b"1" * 500, False),  # says JPEG, is not one
        (bomb(), False),  # so large that Pillow refuses it itself
        (bomb(7_000), False),  # 49 megapixels: over our own cap, under Pillow's
        (b"", False),
    ],
)
def test_only_decodable_images_of_sane_size_get_a_thumbnail(data: bytes, made: bool) -> None:
    assert (thumbnail(data) is not None) is made


@pytest.mark.parametrize(
    ("given", "where"),
    [
        ([10.7769, 106.7009], (10.7769, 106.7009)),
        ([-90, 180], (-90.0, 180.0)),
        ([90.0001, 0], None),
        ([0, -180.5], None),
        ([float("nan"), 0], None),
        ([10**400, 0], None),
        ([True, 1], None),
        (["10.7", "106.7"], None),
        ([10.7], None),
        ({"lat": 10.7, "lon": 106.7}, None),
        (None, None),
    ],
)
def test_a_location_is_two_numbers_in_range(given: object, where: object) -> None:
    assert location_of(given) == where


@pytest.fixture
async def app(make_app: AppFactory) -> CauNoi:
    return await make_app(serve_http=True)


@pytest.fixture
async def visitor(app: CauNoi) -> AsyncIterator[Browser]:
    """A visitor at the attachments step of a complaint in Gò Dầu."""
    browser = Browser(app)
    await browser.open()
    await onboard(browser, app.config)
    await browser.press("menu:complaint")
    await browser.press(browser.buttons()[0])
    await browser.send(COMPLAINT)
    yield browser
    await browser.close()


@pytest.fixture
async def stranger(app: CauNoi) -> AsyncIterator[Browser]:
    browser = Browser(app)
    await browser.open()
    yield browser
    await browser.close()


async def _uploaded(visitor: Browser, name: str, data: bytes, content_type: str) -> int:
    """Upload a file; the id of its echo in the visitor's chat."""
    [added] = await visitor.upload(name, data, content_type)
    assert added.startswith(text("submit.attachment_added", "vi", count="1", max="5")[:10])
    echo = text("web.attached", "vi", name=name)
    [message] = [e for e in visitor.events.values() if not e["outgoing"] and e["text"] == echo]
    assert isinstance(message["id"], int)
    return message["id"]


async def test_a_visitor_sees_a_thumbnail_of_their_own_photo(
    visitor: Browser, stranger: Browser
) -> None:
    original = photo_with_gps()
    echo = await _uploaded(visitor, "ảnh.jpg", original, "image/jpeg")
    assert visitor.events[echo]["file"] == {"kind": "photo"}, "no stored reference leaks"
    thumb = await visitor.client.get(f"/chat/api/thumb/{echo}")
    assert thumb.status_code == 200
    assert thumb.headers["content-type"] == "image/jpeg"
    assert thumb.headers["x-content-type-options"] == "nosniff"
    assert thumb.headers["cache-control"].startswith("private")
    image = Image.open(io.BytesIO(thumb.content))
    assert image.size == (THUMB_SIDE // 2, THUMB_SIDE), "turned upright, at most 320 px"
    assert not image.getexif(), "the GPS position is gone"
    assert len(thumb.content) < len(original)
    again = await visitor.client.get(f"/chat/api/thumb/{echo}")
    assert again.content == thumb.content, "kept, made once"
    full = await visitor.client.get(f"/chat/api/file/{echo}")
    assert full.content == original, "tapping it downloads the original"
    elsewhere = await stranger.client.get(f"/chat/api/thumb/{echo}")
    assert elsewhere.status_code == 404
    assert elsewhere.json()["error"] == text("web.no_file", "vi")


async def test_a_png_gets_a_thumbnail_too(visitor: Browser) -> None:
    echo = await _uploaded(visitor, "sơ đồ.png", png(), "image/png")
    thumb = await visitor.client.get(f"/chat/api/thumb/{echo}")
    assert thumb.status_code == 200
    assert Image.open(io.BytesIO(thumb.content)).size == (THUMB_SIDE, THUMB_SIDE)


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("biên bản.pdf", b"%PDF-1.7 " + b"0" * 300, "application/pdf"),
        ("hỏng.jpg", b"\xff\xd8" + b"1" * 500, "image/jpeg"),
        ("bom.png", bomb(), "image/png"),
    ],
)
async def test_a_file_that_is_not_a_sane_image_stays_a_download(
    visitor: Browser, name: str, data: bytes, content_type: str
) -> None:
    echo = await _uploaded(visitor, name, data, content_type)
    thumb = await visitor.client.get(f"/chat/api/thumb/{echo}")
    assert thumb.status_code == 404, "refused politely, never a 500"
    assert thumb.json()["error"] == text("web.no_thumb", "vi")
    download = await visitor.client.get(f"/chat/api/file/{echo}")
    assert download.content == data


async def test_staff_see_a_tickets_photo_as_a_thumbnail_and_no_one_else_does(
    app: CauNoi, visitor: Browser, stranger: Browser
) -> None:
    staff = await signed_in_staff(app)
    try:
        await staff.wait_for(lambda: len(staff.texts) == 2)
        await _uploaded(visitor, "bằng chứng.jpg", photo_with_gps(), "image/jpeg")
        code = await send_named(visitor)
        await staff.wait_for(lambda: any(code in t for t in staff.texts))
        [shown] = await staff.press(f"t:files:{code}")
        [message] = [e for e in staff.events.values() if e["text"] == shown]
        assert message["file"] == {"kind": "photo"}
        thumb = await staff.client.get(f"/chat/api/thumb/{message['id']}")
        assert thumb.status_code == 200
        assert not Image.open(io.BytesIO(thumb.content)).getexif()
        for other in (visitor, stranger):
            refused = await other.client.get(f"/chat/api/thumb/{message['id']}")
            assert refused.status_code == 404, "only for the chat the file was shown in"
        [upload] = await rows(app.db, WebUpload)
        await app.uploads.forget_refs([f"{UPLOAD_PREFIX}{upload.id}"])
        erased = await staff.client.get(f"/chat/api/thumb/{message['id']}")
        assert erased.status_code == 404, "a kept thumbnail goes with its erased upload"
    finally:
        await staff.close()


async def test_staff_on_the_web_see_a_photo_sent_through_telegram_as_a_thumbnail(
    fake: FakeTelegram, app: CauNoi
) -> None:
    fake.files["files/tg-photo"] = photo_with_gps()
    staff = await signed_in_staff(app)
    try:
        await staff.wait_for(lambda: len(staff.texts) == 2)
        youth = Chat(fake, app, 6200)
        await onboard(youth, app.config)
        await youth.press("menu:complaint")
        await youth.press(youth.buttons()[0])
        await youth.send(COMPLAINT)
        photo = [{"file_id": "tg-photo", "file_unique_id": "u1", "width": 800, "height": 400}]
        await youth.send(None, photo=photo)
        code = await send_named(youth)
        await staff.wait_for(lambda: any(code in t for t in staff.texts))
        [shown] = await staff.press(f"t:files:{code}")
        [message] = [e for e in staff.events.values() if e["text"] == shown]
        thumb = await staff.client.get(f"/chat/api/thumb/{message['id']}")
        assert thumb.status_code == 200, "fetched from the Bot API, then shrunk"
        image = Image.open(io.BytesIO(thumb.content))
        assert image.size == (THUMB_SIDE // 2, THUMB_SIDE)
        assert not image.getexif()
    finally:
        await staff.close()


async def test_a_shared_location_is_attached_shown_to_the_visitor_and_to_staff(
    app: CauNoi, visitor: Browser
) -> None:
    staff = await signed_in_staff(app)
    try:
        await staff.wait_for(lambda: len(staff.texts) == 2)
        [added] = await visitor._exchange(
            "/chat/api/send", {"id": "loc1", "location": [11.3101, 106.0983]}, 1
        )
        assert added == text("submit.attachment_added", "vi", count="1", max="5")
        link = "https://maps.google.com/?q=11.310100,106.098300"
        assert text("web.location_sent", "vi", link=link) in visitor.mine
        code = await send_named(visitor)
        await staff.wait_for(lambda: any(code in t for t in staff.texts))
        [shown] = await staff.press(f"t:files:{code}")
        assert shown == text(
            "desk.file_location", "vi", code=code, number="1/1", kind="vị trí", link=link
        )
    finally:
        await staff.close()


async def test_a_bad_location_or_one_at_the_wrong_time_is_refused_politely(
    visitor: Browser, stranger: Browser
) -> None:
    for given in ([95, 10], "here", [None, None]):
        response = await visitor.post("/chat/api/send", json={"id": "bad", "location": given})
        assert response.status_code == 400
        assert response.json()["error"] == text("web.bad_location", "vi")
    early = await stranger.post("/chat/api/send", json={"id": "l1", "location": [11.3, 106.1]})
    assert early.status_code == 409
    assert early.json()["error"] == text("web.location_not_now", "vi")
