"""Tests for the text frontend: symbol table, cleaners, encoding, blanks, files and round trips."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vits_adapters.errors import InvalidInputError, SpecError
from vits_adapters.text.frontend import (
    CLEANERS,
    ORIGINAL_VITS_SYMBOLS,
    EncodedText,
    PhonemizerUnavailableError,
    TextFrontend,
    basic_cleaners,
    convert_to_ascii,
    english_cleaners,
    english_cleaners2,
    expand_abbreviations,
    transliteration_cleaners,
)

# Id ranges of the original table: pad 0, punctuation 1..16, letters 17..68, IPA 69..177.
PUNCT_START, LETTER_START, IPA_START = 1, 17, 69


def _espeak_available() -> bool:
    """True if phonemizer is installed and finds the espeak library."""
    if importlib.util.find_spec("phonemizer") is None:
        return False
    from phonemizer.backend import EspeakBackend

    return bool(EspeakBackend.is_available())


needs_espeak = pytest.mark.skipif(not _espeak_available(), reason="phonemizer + espeak-ng not installed")


class FakePhonemizer:
    """Stands in for ``phonemizer.phonemize``, recording its calls."""

    def __init__(self, output: str) -> None:
        self.output = output
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, text: str, **kwargs: Any) -> str:
        self.calls.append((text, kwargs))
        return self.output


def _install_fake_phonemizer(
    monkeypatch: pytest.MonkeyPatch, fake: FakePhonemizer | None, *, espeak: bool = True
) -> None:
    """Put fake ``phonemizer`` and ``phonemizer.backend`` modules in ``sys.modules``."""
    package = types.ModuleType("phonemizer")
    package.phonemize = fake  # type: ignore[attr-defined]
    backend = types.ModuleType("phonemizer.backend")
    backend.EspeakBackend = type(  # type: ignore[attr-defined]
        "EspeakBackend", (), {"is_available": staticmethod(lambda: espeak)}
    )
    package.backend = backend  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "phonemizer", package)
    monkeypatch.setitem(sys.modules, "phonemizer.backend", backend)


# --- symbol table -----------------------------------------------------------------------------


def test_original_table_layout() -> None:
    symbols = ORIGINAL_VITS_SYMBOLS
    assert len(symbols) == 178
    assert symbols[0] == "_"
    assert symbols.index(" ") == 16
    assert symbols[PUNCT_START] == ";"
    assert symbols[LETTER_START : LETTER_START + 52] == tuple(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    )
    assert symbols[IPA_START] == "ɑ"
    assert symbols[-1] == "ᵻ"
    assert all(len(symbol) == 1 for symbol in symbols)


def test_original_table_apostrophes_and_combining_mark() -> None:
    # Upstream's IPA string ends in "'̩'ᵻ": apostrophe, U+0329, apostrophe, small capital I with stroke.
    assert ORIGINAL_VITS_SYMBOLS[174:] == ("'", "\u0329", "'", "ᵻ")
    assert unicodedata.name(ORIGINAL_VITS_SYMBOLS[175]) == "COMBINING VERTICAL LINE BELOW"
    assert len(set(ORIGINAL_VITS_SYMBOLS)) == 177


def test_apostrophe_takes_the_last_id_like_upstream() -> None:
    frontend = TextFrontend.original_vits(cleaners=[], add_blank=False)
    assert frontend.encode("'").token_ids == (176,)


def test_duplicate_symbols_are_rejected_by_default() -> None:
    with pytest.raises(SpecError, match="'a'"):
        TextFrontend(["_", "a", "b", "a"])
    with pytest.raises(SpecError, match="duplicate"):
        TextFrontend(ORIGINAL_VITS_SYMBOLS)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cleaners": ["english_cleaners9"]}, "english_cleaners9"),
        ({"on_unknown": "ignore"}, "on_unknown"),
        ({"blank_id": 3}, "blank_id"),
        ({"blank_id": -1}, "blank_id"),
    ],
)
def test_bad_options_raise_spec_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        TextFrontend(["_", "a", "b"], **kwargs)


def test_empty_table_and_empty_symbol_raise_spec_error() -> None:
    with pytest.raises(SpecError, match="empty"):
        TextFrontend([])
    with pytest.raises(SpecError, match="symbol 1"):
        TextFrontend(["_", ""])


# --- cleaners ---------------------------------------------------------------------------------


def test_cleaner_names() -> None:
    assert set(CLEANERS) == {"basic_cleaners", "transliteration_cleaners", "english_cleaners", "english_cleaners2"}


def test_basic_cleaners() -> None:
    assert basic_cleaners("Mr. Smith  went to   St. Louis.") == "mr. smith went to st. louis."
    assert basic_cleaners("Café\t\nDÉJÀ") == "café déjà"


def test_transliteration_cleaners() -> None:
    assert transliteration_cleaners("Café déjà vu") == "cafe deja vu"
    assert transliteration_cleaners("Straße  Œuvre") == "strasse oeuvre"


def test_convert_to_ascii_drops_what_it_cannot_spell() -> None:
    assert convert_to_ascii("naïve 東京 “quote”") == 'naive  "quote"'


def test_expand_abbreviations() -> None:
    text = basic_cleaners("Mr. Smith  went to   St. Louis.")
    assert expand_abbreviations(text) == "mister smith went to saint louis."
    assert expand_abbreviations("mrs. dr. drs. capt. ltd. ft.") == "misess doctor doctors captain limited fort"
    # Whole words followed by a period only.
    assert expand_abbreviations("mr smith, first. mister.") == "mr smith, first. mister."


def test_english_cleaners2_calls_phonemizer_with_stress_and_punctuation(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakePhonemizer("mˈɪstɚ  smˈɪθ  wɛnt.")
    _install_fake_phonemizer(monkeypatch, fake)
    assert english_cleaners2("Mr. Smith  WENT.") == "mˈɪstɚ smˈɪθ wɛnt."
    assert fake.calls == [
        (
            "mister smith  went.",
            {
                "language": "en-us",
                "backend": "espeak",
                "strip": True,
                "preserve_punctuation": True,
                "with_stress": True,
            },
        )
    ]


def test_english_cleaners_calls_phonemizer_without_stress_or_punctuation(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakePhonemizer("dɑktɚ  hu")
    _install_fake_phonemizer(monkeypatch, fake)
    assert english_cleaners("Dr. Who") == "dɑktɚ hu"
    assert fake.calls == [("doctor who", {"language": "en-us", "backend": "espeak", "strip": True})]


def test_missing_phonemizer_raises_with_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "phonemizer", None)  # makes `import phonemizer` fail
    monkeypatch.setitem(sys.modules, "phonemizer.backend", None)
    frontend = TextFrontend.original_vits()
    with pytest.raises(PhonemizerUnavailableError) as info:
        frontend.encode("Hello there.")
    message = str(info.value)
    assert "espeak" in message
    assert "apt-get install espeak-ng" in message
    assert "pip install phonemizer" in message
    assert "token_ids=" in message and "cleaners=[]" in message
    assert isinstance(info.value, InvalidInputError) and isinstance(info.value, ValueError)


def test_missing_espeak_library_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    _install_fake_phonemizer(monkeypatch, FakePhonemizer("unused"), espeak=False)
    with pytest.raises(PhonemizerUnavailableError, match="espeak-ng library"):
        english_cleaners2("Hello.")


@needs_espeak
def test_real_english_cleaners2_encodes() -> None:
    encoded = TextFrontend.original_vits().encode("Hello, world.")
    assert "ˈ" in encoded.cleaned and "," in encoded.cleaned
    assert encoded.token_ids[0] == 0 and len(encoded.token_ids) == 2 * len(encoded.cleaned) + 1


@needs_espeak
def test_real_english_cleaners_has_no_stress() -> None:
    cleaned = english_cleaners("Hello, world.")
    assert "ˈ" not in cleaned and "," not in cleaned


# --- encoding ---------------------------------------------------------------------------------


def test_encode_ids_match_hand_computed_table_positions() -> None:
    frontend = TextFrontend.original_vits(cleaners=[], add_blank=False)
    encoded = frontend.encode("Hi, ˈə!")
    h_upper = LETTER_START + 7
    i_lower = LETTER_START + 26 + 8
    comma = PUNCT_START + 2
    space = 16
    stress = IPA_START + 87  # "ˈ" is the 88th IPA symbol
    schwa = IPA_START + 14
    bang = PUNCT_START + 4
    assert encoded == EncodedText(
        token_ids=(h_upper, i_lower, comma, space, stress, schwa, bang), cleaned="Hi, ˈə!", unknown=()
    )
    assert encoded.token_ids == (24, 51, 3, 16, 156, 83, 5)


def test_encode_applies_cleaners_in_order() -> None:
    frontend = TextFrontend.original_vits(cleaners=["transliteration_cleaners"], add_blank=False)
    encoded = frontend.encode("Café  OK")
    assert encoded.cleaned == "cafe ok"
    assert frontend.decode(encoded.token_ids) == "cafe ok"


def test_add_blank_layout() -> None:
    frontend = TextFrontend(["_", "a", "b", "c"], add_blank=True)
    assert frontend.encode("cab").token_ids == (0, 3, 0, 1, 0, 2, 0)
    assert frontend.decode(frontend.encode("cab").token_ids, skip_blanks=True) == "cab"
    custom = TextFrontend(["a", "b", "<blank>"], add_blank=True, blank_id=2)
    assert custom.encode("ab").token_ids == (2, 0, 2, 1, 2)


def test_original_vits_default_adds_blanks() -> None:
    frontend = TextFrontend.original_vits(cleaners=[])
    assert frontend.encode("a").token_ids == (0, LETTER_START + 26, 0)


def test_multi_character_symbols_use_longest_match() -> None:
    frontend = TextFrontend(["_", "a", "b", "ab", "abc", "c"])
    assert frontend.encode("abcab").token_ids == (4, 3)
    assert frontend.encode("abab").token_ids == (3, 3)
    assert frontend.encode("ba").token_ids == (2, 1)


def test_unknown_character_error_lists_it_and_the_table() -> None:
    frontend = TextFrontend.original_vits(cleaners=[], add_blank=False)
    with pytest.raises(InvalidInputError) as info:
        frontend.encode("hé€llo é")
    message = str(info.value)
    assert "'é' (U+00E9)" in message and "'€' (U+20AC)" in message
    assert message.index("U+00E9") < message.index("U+20AC")
    assert message.count("U+00E9") == 1
    assert "original VITS" in message
    assert isinstance(info.value, ValueError)


def test_unknown_character_error_names_a_symbol_file(tmp_path: Path) -> None:
    path = tmp_path / "vocab.txt"
    path.write_text("_\na\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="vocab.txt"):
        TextFrontend.from_symbol_file(path).encode("ab")


def test_drop_mode_reports_unknown() -> None:
    frontend = TextFrontend.original_vits(cleaners=[], add_blank=False)
    frontend = TextFrontend.from_dict({**frontend.to_dict(), "on_unknown": "drop"})
    encoded = frontend.encode("hé€llé")
    assert encoded.unknown == ("é", "€")
    assert frontend.decode(encoded.token_ids) == "hll"
    assert encoded.cleaned == "hé€llé"


@pytest.mark.parametrize("on_unknown", ["error", "drop"])
def test_only_unknown_text_is_invalid(on_unknown: str) -> None:
    frontend = TextFrontend(["_", "a"], on_unknown=on_unknown)
    with pytest.raises(InvalidInputError, match="U\\+6771"):
        frontend.encode("東")
    if on_unknown == "drop":
        with pytest.raises(InvalidInputError, match="no known symbols"):
            frontend.encode("東")


@pytest.mark.parametrize("cleaners", [[], ["basic_cleaners"]])
def test_empty_text_is_invalid(cleaners: list[str]) -> None:
    frontend = TextFrontend.original_vits(cleaners=cleaners)
    with pytest.raises(InvalidInputError, match="no known symbols"):
        frontend.encode("")


def test_non_string_text_is_invalid() -> None:
    with pytest.raises(InvalidInputError, match="string"):
        TextFrontend(["_", "a"]).encode(b"a")  # type: ignore[arg-type]


# --- files and serialization ------------------------------------------------------------------


def test_symbol_file_keeps_space_line(tmp_path: Path) -> None:
    path = tmp_path / "vocab.txt"
    path.write_bytes("_\n \na\nb\r\nː\n".encode())
    frontend = TextFrontend.from_symbol_file(path, add_blank=True)
    assert frontend.symbols == ("_", " ", "a", "b", "ː")
    assert frontend.encode("a bː").token_ids == (0, 2, 0, 1, 0, 3, 0, 4, 0)


def test_symbol_file_without_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "vocab.txt"
    path.write_text("_\na", encoding="utf-8")
    assert TextFrontend.from_symbol_file(path).symbols == ("_", "a")


def test_symbol_file_with_blank_line_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "vocab.txt"
    path.write_text("_\n\na\n", encoding="utf-8")
    with pytest.raises(SpecError, match="line 2"):
        TextFrontend.from_symbol_file(path)


def test_to_dict_from_dict_round_trip_through_json() -> None:
    original = TextFrontend.original_vits(cleaners=["basic_cleaners"])
    data = json.loads(json.dumps(original.to_dict(), ensure_ascii=False))
    restored = TextFrontend.from_dict(data)
    assert restored.to_dict() == original.to_dict()
    assert restored.symbols == ORIGINAL_VITS_SYMBOLS
    assert restored.cleaners == ("basic_cleaners",)
    assert restored.add_blank is True and restored.blank_id == 0
    assert restored.encode("Hello there").token_ids == original.encode("Hello there").token_ids


def test_from_dict_rejects_bad_input() -> None:
    with pytest.raises(SpecError, match="colour"):
        TextFrontend.from_dict({"symbols": ["_", "a"], "colour": "red"})
    with pytest.raises(SpecError, match="symbols"):
        TextFrontend.from_dict({"cleaners": []})
    with pytest.raises(SpecError, match="cleaners"):
        TextFrontend.from_dict({"symbols": ["_", "a"], "cleaners": "basic_cleaners"})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(ORIGINAL_VITS_SYMBOLS), min_size=1, max_size=40).map("".join))
def test_encode_decode_round_trip_over_original_symbols(text: str) -> None:
    plain = TextFrontend.original_vits(cleaners=[], add_blank=False)
    ids = plain.encode(text).token_ids
    assert len(ids) == len(text)
    assert "".join(ORIGINAL_VITS_SYMBOLS[i] for i in ids) == text
    blanked = TextFrontend.original_vits(cleaners=[], add_blank=True).encode(text).token_ids
    assert blanked[1::2] == ids and set(blanked[0::2]) == {0}
