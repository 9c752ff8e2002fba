"""Pure domain pieces: catalogs, text normalisation, splitting, language guessing."""

import unicodedata

import pytest

from bot.channels.render import split_text
from bot.domain.i18n import LANGUAGES, catalog, placeholders, render, supported
from bot.domain.language import detect_language
from bot.domain.messages import Choice, Rendered, Reply
from bot.domain.text import clean, fold, nfc, xml_safe


def test_every_key_exists_in_every_language_with_the_same_placeholders() -> None:
    keys = {lang: set(catalog(lang)) for lang in LANGUAGES}
    assert keys["vi"] == keys["en"]
    for key in keys["vi"]:
        assert placeholders(catalog("vi")[key]) == placeholders(catalog("en")[key]), key


def test_catalog_texts_are_nfc_and_not_empty() -> None:
    for lang in LANGUAGES:
        for key, value in catalog(lang).items():
            assert value.strip(), key
            assert unicodedata.is_normalized("NFC", value), key


@pytest.mark.parametrize(
    ("typed", "folded"),
    [
        ("Gò Dầu", "go dau"),
        ("go dau", "go dau"),
        ("GO  DAU", "go dau"),
        ("Đức Hòa", "duc hoa"),
        ("Bình Hoà", "binh hoa"),
        ("Phường\u00a0Tân Ninh", "phuong tan ninh"),
    ],
)
def test_fold_ignores_case_diacritics_and_spacing(typed: str, folded: str) -> None:
    assert fold(typed) == folded


def test_nfc_joins_decomposed_vietnamese() -> None:
    decomposed = unicodedata.normalize("NFD", "Tây Ninh")
    assert decomposed != "Tây Ninh"
    assert nfc(decomposed) == "Tây Ninh"


def test_render_fills_values_and_labels_choices() -> None:
    reply = Reply(
        "welcome.greeting", {"organisation": "X"}, ((Choice("lang:en", "language.name_en"),),)
    )
    rendered = render(reply, "en")
    assert "X" in rendered.text
    assert rendered.choices == ((("lang:en", "English"),),)
    assert Rendered.from_payload(rendered.to_payload()) == rendered


@pytest.mark.parametrize(
    ("hint", "language"), [("en-GB", "en"), ("vi", "vi"), ("fr", "vi"), (None, "vi")]
)
def test_supported_language_falls_back_to_vietnamese(hint: str | None, language: str) -> None:
    assert supported(hint) == language


def test_split_text_keeps_everything_within_the_limit() -> None:
    text = ("Một câu khá dài về hoạt động tình nguyện mùa hè. " * 300).strip()
    pieces = split_text(text, 4096)
    assert all(len(p) <= 4096 for p in pieces)
    assert " ".join(pieces).split() == text.split()
    assert split_text("x" * 9000, 4096) == ["x" * 4096, "x" * 4096, "x" * 808]


def test_short_or_unclear_text_keeps_the_fallback_language() -> None:
    assert detect_language("ok", fallback="en") == "en"
    assert detect_language("🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂", fallback="vi") == "vi"
    long_vi = "Em muốn hỏi về thủ tục chuyển sinh hoạt Đoàn khi đi làm ở tỉnh khác ạ"
    assert detect_language(long_vi, fallback="en") == "vi"
    long_en = "I would like to know how to join the volunteer programme this summer"
    assert detect_language(long_en, fallback="vi") == "en"


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("Gò Dầu", "Gò Dầu"),
        ("Go\u0300 Da\u0302\u0300u", "Gò Dầu"),  # decomposed: stored as NFC
        ("\u200b" * 12, ""),  # zero-width spaces
        ("a\u200cb\u2060c\ufeffd", "abcd"),  # zero-width non-joiner, word joiner, BOM
        ("\u202eabc\u202c", "abc"),  # a bidi override and its end
        ("\u2066x\u2069 \u200ey\u200f \u061cz", "x y z"),  # isolates and marks
        ("tin\x00 tốt\x0b\x1b\x7f", "tin tốt"),  # NUL, C0 and DEL
        ("a\x85b\x9fc", "a\nbc"),  # C1 (NEL is a line break)
        ("dòng 1\ndòng 2\tcột", "dòng 1\ndòng 2\tcột"),  # newline and tab kept
        ("a\r\nb\rc\u2028d", "a\nb\nc\nd"),  # every line break is a newline
        ("lẻ\ud800", "lẻ"),  # a lone surrogate (from JSON's \\ud800)
        ("\u3164\u115f\u00ad", ""),  # fillers and a soft hyphen that show nothing
        ("👩\u200d💻 ❤\ufe0f\u200d🔥", "👩\u200d💻 ❤\ufe0f\u200d🔥"),  # emoji sequences
        ("x\u200dy", "xy"),  # a joiner between letters joins nothing
        ("a\ufffeb\uffff", "ab"),  # non-characters
        ("", ""),
    ],
)
def test_clean_keeps_what_people_can_see(typed: str, kept: str) -> None:
    assert clean(typed) == kept


@pytest.mark.parametrize(
    ("name", "kept"),
    [("Nguyễn\nVăn\tAn", "Nguyễn Văn An"), ("\u202eAn\u202c\x00", "An")],
)
def test_clean_one_line_for_names(name: str, kept: str) -> None:
    assert clean(name, one_line=True) == kept


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("tin\x0b\x1b\x7f tốt", "tin tốt"),
        ("a\x00b\ud800c\ufffe", "abc"),
        ("dòng\r\n\tcột", "dòng\r\n\tcột"),
        ("\u200bvẫn giữ", "\u200bvẫn giữ"),  # legal in XML: output keeps it
    ],
)
def test_xml_safe_drops_only_what_xml_forbids(stored: str, shown: str) -> None:
    assert xml_safe(stored) == shown
