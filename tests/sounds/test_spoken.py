"""What a call says aloud, and how it is cut into segments and named: no engine involved."""

from __future__ import annotations

import pytest

from queueserver.sounds import segments, spoken

CHINESE_1_TO_99 = """
一 二 三 四 五 六 七 八 九 十
十一 十二 十三 十四 十五 十六 十七 十八 十九 二十
二十一 二十二 二十三 二十四 二十五 二十六 二十七 二十八 二十九 三十
三十一 三十二 三十三 三十四 三十五 三十六 三十七 三十八 三十九 四十
四十一 四十二 四十三 四十四 四十五 四十六 四十七 四十八 四十九 五十
五十一 五十二 五十三 五十四 五十五 五十六 五十七 五十八 五十九 六十
六十一 六十二 六十三 六十四 六十五 六十六 六十七 六十八 六十九 七十
七十一 七十二 七十三 七十四 七十五 七十六 七十七 七十八 七十九 八十
八十一 八十二 八十三 八十四 八十五 八十六 八十七 八十八 八十九 九十
九十一 九十二 九十三 九十四 九十五 九十六 九十七 九十八 九十九
""".split()

ENGLISH_1_TO_99 = """
one two three four five six seven eight nine ten
eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty
twenty-one twenty-two twenty-three twenty-four twenty-five twenty-six twenty-seven twenty-eight
twenty-nine thirty
thirty-one thirty-two thirty-three thirty-four thirty-five thirty-six thirty-seven thirty-eight
thirty-nine forty
forty-one forty-two forty-three forty-four forty-five forty-six forty-seven forty-eight
forty-nine fifty
fifty-one fifty-two fifty-three fifty-four fifty-five fifty-six fifty-seven fifty-eight
fifty-nine sixty
sixty-one sixty-two sixty-three sixty-four sixty-five sixty-six sixty-seven sixty-eight
sixty-nine seventy
seventy-one seventy-two seventy-three seventy-four seventy-five seventy-six seventy-seven
seventy-eight seventy-nine eighty
eighty-one eighty-two eighty-three eighty-four eighty-five eighty-six eighty-seven eighty-eight
eighty-nine ninety
ninety-one ninety-two ninety-three ninety-four ninety-five ninety-six ninety-seven ninety-eight
ninety-nine
""".split()

DIGITS = {
    "yue": ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"],
    "cmn": ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"],
    "en": ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
}


def test_the_tables_are_complete() -> None:
    assert len(CHINESE_1_TO_99) == len(ENGLISH_1_TO_99) == 99


@pytest.mark.parametrize("language", ["yue", "cmn", "en"])
def test_counters_1_to_99_are_read_as_numbers(language: str) -> None:
    expected = ENGLISH_1_TO_99 if language == "en" else CHINESE_1_TO_99
    assert [spoken.counter_words(n, language) for n in range(1, 100)] == expected


@pytest.mark.parametrize(("number", "yue", "en"), [
    (100, "一百", "one hundred"), (101, "一百零一", "one hundred and one"),
    (110, "一百一十", "one hundred and ten"), (215, "二百一十五", "two hundred and fifteen"),
    (999, "九百九十九", "nine hundred and ninety-nine"), (1200, "一 二 零 零", "one two zero zero"),
])
def test_larger_counters(number: int, yue: str, en: str) -> None:
    assert spoken.counter_words(number, "yue") == yue
    assert spoken.counter_words(number, "cmn") == yue
    assert spoken.counter_words(number, "en") == en


@pytest.mark.parametrize("language", ["yue", "cmn", "en"])
def test_every_digit_in_every_language(language: str) -> None:
    assert [spoken.digit_words(str(d), language) for d in range(10)] == DIGITS[language]


@pytest.mark.parametrize("language", ["yue", "cmn", "en"])
def test_letters_are_said_by_their_english_names_in_every_language(language: str) -> None:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    assert [spoken.letter_words(c, language) for c in letters] == list(letters)


def plan(ticket: str, counter: int, language: str, recall: bool = False) -> list[tuple[str, str]]:
    return [(p.kind, p.text) for p in spoken.pieces(ticket, counter, language, recall)]


def test_a_call_in_cantonese_digit_by_digit() -> None:
    assert plan("A023", 5, "yue") == [
        ("lead_in", "籌號"), ("letter", "A"), ("digit", "零"), ("digit", "二"), ("digit", "三"),
        ("please_go_to", "，請到"), ("counter", "五"), ("closing", "號櫃位")]


def test_a_call_in_putonghua() -> None:
    assert plan("A023", 12, "cmn") == [
        ("lead_in", "请"), ("letter", "A"), ("digit", "零"), ("digit", "二"), ("digit", "三"),
        ("please_go_to", "号到"), ("counter", "十二"), ("closing", "号柜台")]


def test_a_recall_in_english_with_a_long_number() -> None:
    assert plan("P1000", 21, "en", recall=True) == [
        ("recall", "Calling again."), ("lead_in", "Ticket"), ("letter", "P"), ("digit", "one"),
        ("digit", "zero"), ("digit", "zero"), ("digit", "zero"),
        ("please_go_to", ", please go to counter"), ("counter", "twenty-one")]


@pytest.mark.parametrize(("ticket", "counter", "language"), [
    ("a023", 5, "en"), ("A23", 5, "en"), ("AB023", 5, "en"), ("A023", 0, "en"),
    ("A023", 5, "fr")])
def test_bad_calls_are_refused(ticket: str, counter: int, language: str) -> None:
    with pytest.raises(ValueError):
        spoken.pieces(ticket, counter, language)


def test_a_centre_needs_each_piece_once() -> None:
    needed = spoken.centre_pieces("AP", [1, 2, 12], ["yue", "en"])
    assert len(needed) == len(set(needed))
    yue = [p for lang, p in needed if lang == "yue"]
    # recall, lead-in, please go to, closing; 2 letters; 10 digits; 3 counters
    assert len(yue) == 4 + 2 + 10 + 3
    en = [p.text for lang, p in needed if lang == "en"]
    assert "twelve" in en and "P" in en and "Calling again." in en
    # Every piece of every call at these counters is among them.
    for counter in (1, 2, 12):
        for lang in ("yue", "en"):
            for recall in (False, True):
                for p in spoken.pieces("P907", counter, lang, recall):
                    assert (lang, p) in needed


# --- names ---------------------------------------------------------------------------------------

def test_segment_names_come_from_content_and_are_pinned() -> None:
    name = segments.segment_id("espeak", "yue", "yue", "籌號")
    # A changed name would strand every stored segment and every display's cached clip.
    assert name == "8f33f6f5104f"  # sha256("s1␟espeak␟yue␟yue␟籌號")[:12]
    assert segments.segment_id("espeak", "yue", "yue", "請到") != name
    assert segments.segment_id("gtts", "yue", "yue", "籌號") != name
    assert segments.segment_id("espeak", "en", "en", "籌號") != name


def test_clip_names_list_their_segments() -> None:
    ids = ["0a1b2c3d4e5f", "a6c8e2bd4f62"]
    name = segments.clip_name(ids)
    assert name == "c1.0a1b2c3d4e5f.a6c8e2bd4f62"
    assert segments.clip_segments(name) == ids


@pytest.mark.parametrize("name", [
    "", "c1", "c1.", "c2.0a1b2c3d4e5f", "c1.0A1B2C3D4E5F", "c1.0a1b2c3d4e5", "c1..0a1b2c3d4e5f",
    "c1.0a1b2c3d4e5f.", "../c1.0a1b2c3d4e5f", "c1." + ".".join(["0a1b2c3d4e5f"] * 25)])
def test_anything_else_is_not_a_clip_name(name: str) -> None:
    assert segments.clip_segments(name) is None


def test_engines_are_given_the_words_without_the_pause_marks() -> None:
    assert segments.spoken_text("，請到") == "請到"
    assert segments.spoken_text(", please go to counter") == "please go to counter"
    assert segments.spoken_text("Calling again.") == "Calling again"
    assert segments.spoken_text("再次廣播，") == "再次廣播"
