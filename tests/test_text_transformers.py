"""TextFrontend against transformers' VitsTokenizer: same ids, reported unknowns, romanization, files."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import VitsTokenizer
from transformers.models.vits import tokenization_vits

from vits_adapters.errors import InvalidInputError, SpecError
from vits_adapters.text.frontend import (
    ORIGINAL_VITS_SYMBOLS,
    PhonemizerUnavailableError,
    RomanizationRequiredError,
    TextFrontend,
)
from vits_adapters.text.cleaners import _load_phonemize

# An MMS-eng-like vocabulary: "k" at id 0 (MMS's pad token and blank), apostrophe, space, no digits.
_MMS_ORDER = "k'dcx-ebghiajlmnopqrstuvwf yz_"
MMS_VOCAB: dict[str, int] = {symbol: index for index, symbol in enumerate(_MMS_ORDER)}
MMS_CONFIG: dict[str, Any] = {
    "add_blank": True,
    "is_uroman": False,
    "language": "eng",
    "normalize": True,
    "pad_token": "k",
    "phonemize": False,
    "tokenizer_class": "VitsTokenizer",
}
# Upper-case and multi-character entries exercise the normalisation rule; "Ch" precedes "C...".
CASED_VOCAB: dict[str, int] = {**MMS_VOCAB, "A": 30, "É": 31, "Ch": 32, "Ñ": 33}

STRINGS = [
    "hello world",
    "Hello, World!",
    "KOOK",
    "don't stop-me now",
    "Room 101 is at 5th Ave.",
    "café déjà vu",
    "naïve Zoë ÉCOLE",
    "Chez AÏ Ñandú",
    "emoji 😀 here",
    "a  b   c",
    "  padded  ",
    "tabs\tand\nnewlines",
    "x<unk>y <pad>",
    "under_score",
    "k",
    "kk ok",
    "İstanbul ﬁsh",
]
EMPTYISH = ["", "   ", "!!!", "😀", "123", "\t\n", "..."]
OOV = list(",.!?;:0123456789éÉèÏöñÑçİﬁ😀🎉€\t\n") + ["<unk>", "<pad>", "  "]


def _write_voice(folder: Path, vocab: dict[str, int], config: dict[str, Any] | None) -> Path:
    """Write vocab.json (and tokenizer_config.json unless None); return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    if config is not None:
        (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def _pair(folder: Path, **kwargs: Any) -> tuple[TextFrontend, VitsTokenizer]:
    """Our frontend and transformers' tokenizer for the files in ``folder``."""
    return TextFrontend.from_transformers_files(folder / "vocab.json", **kwargs), VitsTokenizer.from_pretrained(
        str(folder)
    )


def _assert_same_ids(frontend: TextFrontend, tokenizer: VitsTokenizer, text: str) -> None:
    """Our ids equal VitsTokenizer's; where it returns no ids at all we raise InvalidInputError."""
    expected = tokenizer(text).input_ids
    if not expected:
        with pytest.raises(InvalidInputError, match="no known symbols"):
            frontend.encode(text)
        return
    assert list(frontend.encode(text).token_ids) == expected, text


class FakePhonemizer:
    """Stands in for ``phonemizer.phonemize`` and records its calls."""

    def __init__(self, output: str) -> None:
        self.output = output
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, text: str, **kwargs: Any) -> str:
        self.calls.append((text, kwargs))
        return self.output


def _install_fake_phonemizer(monkeypatch: pytest.MonkeyPatch, fake: FakePhonemizer) -> None:
    """Route both our cleaners and VitsTokenizer to ``fake``."""
    package = types.ModuleType("phonemizer")
    package.phonemize = fake  # type: ignore[attr-defined]
    backend = types.ModuleType("phonemizer.backend")
    backend.EspeakBackend = type(  # type: ignore[attr-defined]
        "EspeakBackend", (), {"is_available": staticmethod(lambda: True)}
    )
    package.backend = backend  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "phonemizer", package)
    monkeypatch.setitem(sys.modules, "phonemizer.backend", backend)
    monkeypatch.setattr(tokenization_vits, "phonemizer", package, raising=False)


@pytest.fixture
def mms_dir(tmp_path: Path) -> Path:
    return _write_voice(tmp_path / "mms", MMS_VOCAB, MMS_CONFIG)


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[TextFrontend, VitsTokenizer]]:
    """Frontend/tokenizer pairs for the configurations the property test draws from."""
    root = tmp_path_factory.mktemp("voices")
    configs = {
        "mms": (MMS_VOCAB, MMS_CONFIG),
        "mms-no-blank": (MMS_VOCAB, {**MMS_CONFIG, "add_blank": False}),
        "cased": (CASED_VOCAB, {**MMS_CONFIG, "pad_token": "_"}),
        "raw": (CASED_VOCAB, {**MMS_CONFIG, "normalize": False, "pad_token": "<pad>"}),
    }
    return {name: _pair(_write_voice(root / name, vocab, config)) for name, (vocab, config) in configs.items()}


# --- ids equal VitsTokenizer's --------------------------------------------------------------------


@pytest.mark.parametrize("add_blank", [True, False])
@pytest.mark.parametrize("text", STRINGS)
def test_mms_ids_match_vits_tokenizer(tmp_path: Path, add_blank: bool, text: str) -> None:
    folder = _write_voice(tmp_path / "v", MMS_VOCAB, {**MMS_CONFIG, "add_blank": add_blank})
    frontend, tokenizer = _pair(folder)
    assert frontend.on_unknown == "drop"
    _assert_same_ids(frontend, tokenizer, text)


@pytest.mark.parametrize("text", EMPTYISH)
def test_text_with_nothing_to_say_is_invalid(mms_dir: Path, text: str) -> None:
    frontend, tokenizer = _pair(mms_dir)
    assert tokenizer(text).input_ids == []
    with pytest.raises(InvalidInputError, match="no known symbols"):
        frontend.encode(text)


def test_blank_layout_and_the_pad_token_quirk(mms_dir: Path) -> None:
    frontend, tokenizer = _pair(mms_dir)
    o = MMS_VOCAB["o"]
    assert frontend.encode("o").token_ids == (0, o, 0)
    # "k" is MMS's pad token, so VitsTokenizer cuts the text there and adds no blanks around it.
    assert frontend.encode("kok").token_ids == (0, 0, o, 0, 0) == tuple(tokenizer("kok").input_ids)
    assert frontend.blank_id == 0


def test_whitespace_is_kept_inside_and_stripped_outside(mms_dir: Path) -> None:
    frontend, _ = _pair(mms_dir)
    space, a = MMS_VOCAB[" "], MMS_VOCAB["a"]
    encoded = frontend.encode("  a  a\t")
    assert encoded.token_ids == (0, a, 0, space, 0, space, 0, a, 0)
    assert encoded.unknown == ("\t",)


def test_unknown_characters_are_listed_and_dropped(mms_dir: Path) -> None:
    frontend, tokenizer = _pair(mms_dir)
    text = "Héllo, Wörld! 42 😀 é"
    encoded = frontend.encode(text)
    assert encoded.unknown == ("é", ",", "ö", "!", "4", "2", "😀")
    assert encoded.cleaned == "héllo, wörld! 42 😀 é"
    assert list(encoded.token_ids) == tokenizer(text).input_ids
    # Deleting the unknown characters leaves trailing spaces, which VitsTokenizer strips.
    assert frontend.decode(encoded.token_ids[1::2]) == "hllo wrld"


def test_on_unknown_error_raises_listing_them(mms_dir: Path) -> None:
    frontend = TextFrontend.from_transformers_files(mms_dir / "vocab.json", on_unknown="error")
    with pytest.raises(InvalidInputError) as info:
        frontend.encode("Hi, there!")
    message = str(info.value)
    assert "',' (U+002C)" in message and "'!' (U+0021)" in message
    assert str(mms_dir / "vocab.json") in message
    assert frontend.encode("Hi there").unknown == ()


def test_on_unknown_is_validated(mms_dir: Path) -> None:
    with pytest.raises(SpecError, match="on_unknown"):
        TextFrontend.from_transformers_files(mms_dir / "vocab.json", on_unknown="ignore")
    vocab = json.loads((mms_dir / "vocab.json").read_text())
    with pytest.raises(SpecError, match="unk_token"):
        TextFrontend.from_transformers_dict(vocab, {**MMS_CONFIG, "unk_token": None}, on_unknown="unk")


@pytest.mark.parametrize("text", [*STRINGS, "ÉCOLE Chez AÏ", "Éé Aa ChCH", "cHez", "ÑÑñ"])
def test_vocabulary_entries_keep_their_case(tmp_path: Path, text: str) -> None:
    frontend, tokenizer = _pair(_write_voice(tmp_path / "cased", CASED_VOCAB, MMS_CONFIG))
    _assert_same_ids(frontend, tokenizer, text)


def test_normalisation_rule(tmp_path: Path) -> None:
    frontend, _ = _pair(_write_voice(tmp_path / "cased", CASED_VOCAB, MMS_CONFIG))
    # Entries found verbatim (case-sensitive, first in file order) are copied; the rest is lowercased.
    assert frontend.clean("ÉCOLE Chez AÏ ÑO") == "École Chez Aï Ño"
    encoded = frontend.encode("ÉCOLE Chez")
    # "Ch" survives normalisation, but the per-character filter then deletes its "C".
    assert encoded.unknown == ("C",)
    assert frontend.decode(encoded.token_ids[1::2]) == "École hez"


def test_without_normalize_unknowns_become_unk(tmp_path: Path) -> None:
    folder = _write_voice(tmp_path / "raw", MMS_VOCAB, {**MMS_CONFIG, "normalize": False})
    frontend, tokenizer = _pair(folder)
    assert frontend.on_unknown == "unk"
    for text in ["Hi, there!", "  spaced  ", "x<unk>y", "k<unk>"]:
        _assert_same_ids(frontend, tokenizer, text)
    encoded = frontend.encode("Hi!")
    assert encoded.unknown == ("H", "!")
    unk = tokenizer.unk_token_id
    assert unk == len(MMS_VOCAB)
    assert encoded.token_ids == (0, unk, 0, MMS_VOCAB["i"], 0, unk, 0)
    assert frontend.symbols[unk] == "<unk>"


def test_ron_replaces_t_comma_with_t_cedilla(tmp_path: Path) -> None:
    vocab = {symbol: index for index, symbol in enumerate("_abcdefghijklmnopqrstuvwxyzăâîşţ ")}
    folder = _write_voice(tmp_path / "ron", vocab, {**MMS_CONFIG, "language": "ron", "pad_token": "_"})
    frontend, tokenizer = _pair(folder)
    for text in ["Țară și ţară", "ȚARĂ"]:
        _assert_same_ids(frontend, tokenizer, text)
    assert frontend.encode("ȚARĂ").cleaned == "ţară"


# --- romanization ------------------------------------------------------------------------------------


def test_uroman_voice_rejects_cyrillic(tmp_path: Path) -> None:
    folder = _write_voice(tmp_path / "rus", MMS_VOCAB, {**MMS_CONFIG, "language": "rus", "is_uroman": True})
    frontend, tokenizer = _pair(folder)
    with pytest.raises(RomanizationRequiredError) as info:
        frontend.encode("Привет, мир")
    message = str(info.value)
    assert "'п' (U+043F)" in message and "is_uroman" in message
    assert "pip install uroman" in message and "romanized text" in message and "token_ids=" in message
    assert isinstance(info.value, InvalidInputError)
    # Already romanized text passes through unchanged.
    _assert_same_ids(frontend, tokenizer, "Privet, mir")
    assert frontend.encode("Privet, mir").unknown == (",",)


def test_latin_only_vocabulary_rejects_other_scripts(mms_dir: Path) -> None:
    frontend = TextFrontend.from_transformers_files(mms_dir / "vocab.json")
    for text in ["Привет", "hello 東京", "γειά"]:
        with pytest.raises(RomanizationRequiredError, match="Latin-only"):
            frontend.encode(text)
    # Accented Latin, ligatures and symbols are merely unknown.
    assert frontend.encode("ﬁ café 😀").unknown == ("ﬁ", "é", "😀")


def test_vocabulary_in_the_script_reads_it(tmp_path: Path) -> None:
    alphabet = "_ абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
    vocab = {symbol: index for index, symbol in enumerate(alphabet)}
    frontend, tokenizer = _pair(_write_voice(tmp_path / "cyr", vocab, {**MMS_CONFIG, "pad_token": "_"}))
    for text in ["Привет, мир!", "Москва 2024", "hello мир"]:
        _assert_same_ids(frontend, tokenizer, text)


# --- phonemize ---------------------------------------------------------------------------------------


def test_phonemize_makes_the_same_call_as_vits_tokenizer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vocab = {symbol: index for index, symbol in enumerate("_ ,.!?həlˈoʊwɜːd")}
    folder = _write_voice(tmp_path / "ph", vocab, {**MMS_CONFIG, "phonemize": True, "pad_token": "_"})
    frontend, tokenizer = _pair(folder)
    assert frontend.on_unknown == "unk"
    fake = FakePhonemizer("həlˈoʊ,  wˈɜːld! ŋ\n")
    _install_fake_phonemizer(monkeypatch, fake)
    expected = tokenizer("Hello, World!").input_ids
    encoded = frontend.encode("Hello, World!")
    assert list(encoded.token_ids) == expected
    assert encoded.cleaned == "həlˈoʊ, wˈɜːld! ŋ "
    assert encoded.unknown == ("ŋ",)
    assert fake.calls[0] == fake.calls[1]
    assert fake.calls[0] == (
        "hello, world!",
        {"language": "en-us", "backend": "espeak", "strip": True, "preserve_punctuation": True, "with_stress": True},
    )


def test_phonemize_with_the_real_espeak(tmp_path: Path) -> None:
    vocab = {symbol: index for index, symbol in enumerate(ORIGINAL_VITS_SYMBOLS)}
    folder = _write_voice(tmp_path / "ljs", vocab, {**MMS_CONFIG, "phonemize": True, "pad_token": "_"})
    frontend = TextFrontend.from_transformers_files(folder / "vocab.json")
    try:
        _load_phonemize()
    except PhonemizerUnavailableError as err:
        pytest.skip(f"espeak-ng is not installed (apt-get install libespeak-ng1): {err}")
    tokenizer = VitsTokenizer.from_pretrained(str(folder))
    for text in ["Hello, world.", "Mr. Smith paid 12 dollars!", "Café  déjà vu?"]:
        _assert_same_ids(frontend, tokenizer, text)


def test_phonemize_without_phonemizer_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _write_voice(tmp_path / "ph", MMS_VOCAB, {**MMS_CONFIG, "phonemize": True})
    frontend = TextFrontend.from_transformers_files(folder / "vocab.json")
    monkeypatch.setitem(sys.modules, "phonemizer", None)
    monkeypatch.setitem(sys.modules, "phonemizer.backend", None)
    with pytest.raises(PhonemizerUnavailableError, match="pip install phonemizer"):
        frontend.encode("hello")


# --- property test -----------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(["mms", "mms-no-blank", "cased", "raw"]),
    text=st.lists(
        st.sampled_from([*CASED_VOCAB, *"ABCDEFGHIJKLMNOPQRSTUVWXYZ", *OOV]), max_size=24
    ).map("".join),
)
def test_ids_always_equal_vits_tokenizer(
    voices: dict[str, tuple[TextFrontend, VitsTokenizer]], name: str, text: str
) -> None:
    frontend, tokenizer = voices[name]
    _assert_same_ids(frontend, tokenizer, text)


# --- serialization and files -------------------------------------------------------------------------


def test_to_dict_from_dict_round_trip(tmp_path: Path) -> None:
    folder = _write_voice(tmp_path / "cased", CASED_VOCAB, {**MMS_CONFIG, "language": "ron"})
    original = TextFrontend.from_transformers_files(folder / "vocab.json", on_unknown="error")
    data = json.loads(json.dumps(original.to_dict(), ensure_ascii=False, sort_keys=True))
    assert data["kind"] == "transformers"
    restored = TextFrontend.from_dict(data)
    assert restored.to_dict() == original.to_dict()
    assert restored.kind == "transformers" and restored.on_unknown == "error"
    assert restored.symbols == original.symbols
    for text in ["Éa Ñandu", "ÑANDU Aa"]:
        assert restored.encode(text) == original.encode(text)
    with pytest.raises(InvalidInputError, match="U\\+00EF"):
        restored.encode("Aïda")


def test_from_dict_rejects_bad_transformers_fields() -> None:
    with pytest.raises(SpecError, match="colour"):
        TextFrontend.from_dict({"kind": "transformers", "vocab": [["a", 0]], "colour": "red"})
    with pytest.raises(SpecError, match="vocab"):
        TextFrontend.from_dict({"kind": "transformers"})
    with pytest.raises(SpecError, match="twice"):
        TextFrontend.from_dict({"kind": "transformers", "vocab": [["a", 0], ["a", 1]]})
    with pytest.raises(SpecError, match="strings"):
        TextFrontend.from_dict({"kind": "transformers", "vocab": [[["a"], 0]]})
    with pytest.raises(SpecError, match="kind"):
        TextFrontend.from_dict({"kind": "sentencepiece", "symbols": ["a"]})


def test_to_transformers_files_round_trip(mms_dir: Path, tmp_path: Path) -> None:
    frontend = TextFrontend.from_transformers_files(mms_dir / "vocab.json")
    out = tmp_path / "out"
    written = frontend.to_transformers_files(out)
    assert written == [out / "vocab.json", out / "tokenizer_config.json"]
    assert list(json.loads((out / "vocab.json").read_text(encoding="utf-8")).items()) == list(MMS_VOCAB.items())
    assert sorted(p.name for p in out.iterdir()) == ["tokenizer_config.json", "vocab.json"]  # no temp files
    tokenizer = VitsTokenizer.from_pretrained(str(out))
    for text in STRINGS:
        _assert_same_ids(frontend, tokenizer, text)
    reread = TextFrontend.from_transformers_files(out / "vocab.json")
    assert {**reread.to_dict(), "name": None} == {**frontend.to_dict(), "name": None}


def test_to_transformers_files_keeps_explicit_added_tokens(tmp_path: Path) -> None:
    config = {
        **MMS_CONFIG,
        "normalize": False,
        "added_tokens_decoder": {"40": {"content": "<unk>", "special": True}},
    }
    frontend, tokenizer = _pair(_write_voice(tmp_path / "src", MMS_VOCAB, config))
    assert frontend.encode("?").token_ids == (0, 40, 0) == tuple(tokenizer("?").input_ids)
    frontend.to_transformers_files(tmp_path / "out")
    assert VitsTokenizer.from_pretrained(str(tmp_path / "out"))("a?").input_ids == list(frontend.encode("a?").token_ids)


def test_to_transformers_files_replaces_existing_files(mms_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "vocab.json").write_text("stale", encoding="utf-8")
    TextFrontend.from_transformers_files(mms_dir / "vocab.json").to_transformers_files(out)
    assert json.loads((out / "vocab.json").read_text(encoding="utf-8")) == MMS_VOCAB
    assert sorted(p.name for p in out.iterdir()) == ["tokenizer_config.json", "vocab.json"]


ORIGINAL_TEXTS = ["Hello there, how are you?", "Is THIS ok? «Yes» — said Ann.", "what's up", "a", "ɑːˈ ʃ"]


@pytest.mark.parametrize("cleaners", [[], ["basic_cleaners"]])
def test_original_vits_table_exports_to_vits_tokenizer(tmp_path: Path, cleaners: list[str]) -> None:
    frontend = TextFrontend.original_vits(cleaners=cleaners)
    frontend.to_transformers_files(tmp_path)
    tokenizer = VitsTokenizer.from_pretrained(str(tmp_path))
    for text in ORIGINAL_TEXTS:
        assert tokenizer(text).input_ids == list(frontend.encode(text).token_ids), text
    vocab = json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))
    assert vocab["'"] == 176  # the later of the two apostrophes, as upstream
    assert ("A" in vocab) is (cleaners == [])
    config = json.loads((tmp_path / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["normalize"] is bool(cleaners) and config["phonemize"] is False
    assert tokenizer.unk_token_id == 178  # out of the table, never a real symbol
    reread = TextFrontend.from_transformers_files(tmp_path / "vocab.json")
    for text in ORIGINAL_TEXTS:
        assert reread.encode(text).token_ids == frontend.encode(text).token_ids


def test_english_cleaners2_exports_as_phonemize(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frontend = TextFrontend.original_vits()
    frontend.to_transformers_files(tmp_path)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["phonemize"] is True and config["add_blank"] is True
    _install_fake_phonemizer(monkeypatch, FakePhonemizer("ðɛɹ  ɪz, nˈoʊ."))
    tokenizer = VitsTokenizer.from_pretrained(str(tmp_path))
    assert tokenizer("there is no.").input_ids == list(frontend.encode("there is no.").token_ids)


@pytest.mark.parametrize("cleaners", [["transliteration_cleaners"], ["english_cleaners"], ["basic_cleaners"] * 2])
def test_unexpressible_cleaners_raise(tmp_path: Path, cleaners: list[str]) -> None:
    with pytest.raises(SpecError, match=cleaners[0]):
        TextFrontend.original_vits(cleaners=cleaners).to_transformers_files(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unexpressible_tables_raise(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="multi-character symbol"):
        TextFrontend(["_", "a", "ch"]).to_transformers_files(tmp_path)
    with pytest.raises(SpecError, match="blank_id 2"):
        TextFrontend(["a", "b", "#"], add_blank=True, blank_id=2).to_transformers_files(tmp_path)


# --- reading files -----------------------------------------------------------------------------------


def test_tokenizer_config_is_found_beside_vocab_or_defaulted(mms_dir: Path, tmp_path: Path) -> None:
    beside = TextFrontend.from_transformers_files(mms_dir / "vocab.json")
    assert beside.transformers_settings is not None and beside.transformers_settings.phonemize is False
    bare = _write_voice(tmp_path / "bare", MMS_VOCAB, None)
    defaults = TextFrontend.from_transformers_files(bare / "vocab.json").transformers_settings
    assert defaults is not None
    assert (defaults.add_blank, defaults.normalize, defaults.phonemize, defaults.is_uroman) == (True, True, True, False)
    explicit = TextFrontend.from_transformers_files(bare / "vocab.json", mms_dir / "tokenizer_config.json")
    assert explicit.encode("hi").token_ids == beside.encode("hi").token_ids


@pytest.mark.parametrize(
    ("vocab_text", "config", "message"),
    [
        ('{"a": 0, "a": 1}', MMS_CONFIG, "more than once"),
        ('{"a": "0"}', MMS_CONFIG, "integer"),
        ('{"": 0}', MMS_CONFIG, "non-empty"),
        ('["a"]', MMS_CONFIG, "object"),
        ("{not json", MMS_CONFIG, "not valid JSON"),
        ('{"a": 0}', {**MMS_CONFIG, "tokenizer_class": "BertTokenizer"}, "BertTokenizer"),
        ('{"a": 0}', {**MMS_CONFIG, "normalize": "yes"}, "normalize"),
        ('{"a": 0}', {**MMS_CONFIG, "additional_special_tokens": ["<x>"]}, "additional_special_tokens"),
        ('{"a": 0}', {**MMS_CONFIG, "unk_token": {"content": "<unk>", "lstrip": True}}, "lstrip"),
    ],
)
def test_bad_files_raise_spec_error(tmp_path: Path, vocab_text: str, config: dict[str, Any], message: str) -> None:
    (tmp_path / "vocab.json").write_text(vocab_text, encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(SpecError, match=message):
        TextFrontend.from_transformers_files(tmp_path / "vocab.json")


def test_decode_rejects_unused_ids(tmp_path: Path) -> None:
    config = {**MMS_CONFIG, "pad_token": "_"}
    frontend, tokenizer = _pair(_write_voice(tmp_path / "holes", {"_": 0, "a": 1, "b": 4}, config))
    # VitsTokenizer puts <unk> at len(get_vocab()) = 3, counting ids 0..2 including the unused 2.
    assert frontend.symbols == ("_", "a", "", "<unk>", "b")
    assert tokenizer.unk_token_id == 3
    assert frontend.decode([1, 4]) == "ab"
    with pytest.raises(InvalidInputError, match="not in the vocabulary"):
        frontend.decode([2])
