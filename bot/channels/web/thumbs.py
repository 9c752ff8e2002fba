"""Thumbnails of the photos a web chat shows: made by us from the original, so safe to show.

The original is decoded (only common image formats, only up to MAX_PIXELS, so a small file
that claims to be a huge image is refused before it is decoded), turned upright by its EXIF
orientation, shrunk to THUMB_SIDE and re-encoded as a JPEG with no metadata at all (a phone
photo's EXIF carries where it was taken).

Kept in a small in-process LRU rather than the file store: a thumbnail is cheap to make again
after a restart, and one kept in the store would be one more copy of someone's photo that
every erasure path (/forget, purges, the sweep of unknown files) would have to know about.
"""

import asyncio
import io
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field

from PIL import Image, ImageOps

THUMB_SIDE = 320  # the longer side, in pixels: sharp at 160 CSS px on a 2x phone screen
MAX_PIXELS = 40_000_000  # above any phone camera's photo; more is a decompression bomb
FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
JPEG_QUALITY = 80
CACHE_BYTES = 8 * 1024 * 1024  # a few hundred thumbnails
AT_ONCE = 2  # decoding is CPU- and memory-bound: at most this many at a time


def thumbnail(data: bytes) -> bytes | None:
    """A small upright JPEG of an image without its metadata, or None when the bytes are not
    an image we decode (or claim more than MAX_PIXELS)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as image:
                if image.width * image.height > MAX_PIXELS:
                    return None
                image.draft("RGB", (THUMB_SIDE * 2, THUMB_SIDE * 2))  # JPEG: decode scaled
                upright = ImageOps.exif_transpose(image)
                upright.thumbnail((THUMB_SIDE, THUMB_SIDE))
                return _jpeg(_flattened(upright))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Warning):
        return None


def _flattened(image: Image.Image) -> Image.Image:
    """The image as RGB, transparency laid on white (JPEG has none)."""
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return image.convert("RGB")


def _jpeg(image: Image.Image) -> bytes:
    """Encoded with nothing but the pixels: no EXIF, ICC profile or comments are passed on."""
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


@dataclass
class Thumbnails:
    """Thumbnails by the file's origin and reference, made in a thread, the latest kept."""

    limit_bytes: int = CACHE_BYTES
    _kept: OrderedDict[tuple[str, str], bytes | None] = field(default_factory=OrderedDict)
    _size: int = 0
    _turns: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(AT_ONCE))

    def cached(self, key: tuple[str, str]) -> tuple[bool, bytes | None]:
        """Whether a thumbnail (or that there is none) is kept for this file, and which."""
        if key not in self._kept:
            return False, None
        self._kept.move_to_end(key)
        return True, self._kept[key]

    async def make(self, key: tuple[str, str], data: bytes) -> bytes | None:
        """Make the file's thumbnail off the event loop and keep it (a miss is kept too, so a
        file that is not an image is not decoded again)."""
        async with self._turns:
            made = await asyncio.to_thread(thumbnail, data)
        self._keep(key, made)
        return made

    def _keep(self, key: tuple[str, str], made: bytes | None) -> None:
        if key in self._kept:
            return
        self._kept[key] = made
        self._size += len(made or b"")
        while self._size > self.limit_bytes and self._kept:
            _old, dropped = self._kept.popitem(last=False)
            self._size -= len(dropped or b"")
