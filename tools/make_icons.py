"""Draw the web chat's icons once (a white bridge on the Union's blue) into bot/static/.

Run `python tools/make_icons.py` (Pillow is a dependency); the PNGs are committed, so
they are redrawn only when the mark changes.
"""

from pathlib import Path

from PIL import Image, ImageDraw

STATIC = Path(__file__).resolve().parent.parent / "bot" / "static"
BLUE = (11, 92, 173, 255)
WHITE = (255, 255, 255, 255)
SUPERSAMPLE = 4  # drawn four times larger, then shrunk, for smooth edges


def mark(size: int, *, full_bleed: bool) -> Image.Image:
    """The mark at `size` pixels: rounded square, or (maskable) a full square whose drawing
    stays inside the central safe zone."""
    big = size * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if full_bleed:
        draw.rectangle((0, 0, big, big), fill=BLUE)
    else:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=big // 5, fill=BLUE)
    scale = 0.62 if full_bleed else 0.8  # maskable icons may be cut to a circle of 80%
    inner = big * scale
    left, top = (big - inner) / 2, (big - inner) / 2
    line = max(SUPERSAMPLE, round(inner * 0.085))
    deck = top + inner * 0.68
    # The arch of the bridge, then its deck and two piers.
    draw.arc(
        (left, top + inner * 0.2, left + inner, top + inner * 1.16),
        start=180,
        end=360,
        fill=WHITE,
        width=line,
    )
    draw.rectangle((left - line / 2, deck, left + inner + line / 2, deck + line), fill=WHITE)
    for x in (left + inner * 0.3, left + inner * 0.7):
        draw.rectangle((x - line / 2, top + inner * 0.3, x + line / 2, deck), fill=WHITE)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    """Write every icon the page and its manifest name."""
    mark(192, full_bleed=False).save(STATIC / "icon-192.png", optimize=True)
    mark(512, full_bleed=False).save(STATIC / "icon-512.png", optimize=True)
    mark(512, full_bleed=True).save(STATIC / "icon-maskable-512.png", optimize=True)
    mark(180, full_bleed=True).save(STATIC / "apple-touch-icon.png", optimize=True)
    mark(32, full_bleed=False).save(STATIC / "icon-32.png", optimize=True)
    mark(48, full_bleed=False).save(STATIC / "favicon.ico", sizes=[(16, 16), (32, 32), (48, 48)])


if __name__ == "__main__":
    main()
