"""TextFrontend's Piper and Coqui kinds against Piper's ``phonemes_to_ids`` and Coqui's ``TTSTokenizer``."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import pytest

import tests.peers.coqui_reference as coqui_reference  # registers TTS without TTS/__init__.py
from vits_adapters.errors import InvalidInputError, SpecError
from vits_adapters.text.piper_phonemes import split_piper_phonemes
from vits_adapters.text.frontend import TextFrontend

coqui_reference.coqui_vits_class()  # imports Coqui's vits module (torchaudio placeholder if needed)

from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP, phonemes_to_ids  # noqa: E402
from TTS.tts.configs.shared_configs import CharactersConfig  # noqa: E402
from TTS.tts.configs.vits_config import VitsConfig  # noqa: E402
from TTS.tts.utils.text.tokenizer import TTSTokenizer  # noqa: E402

PIPER_CONFIG: dict[str, Any] = {
    "phoneme_id_map": {key: list(value) for key, value in DEFAULT_PHONEME_ID_MAP.items()},
    "phoneme_type": "espeak",
    "espeak": {"voice": "en-us"},
}
PHONEME_STRINGS = [
    "həlˈoʊ wˈɜːld",
    "ðɪs ɪz ɐ tˈɛst, ˌɔːlsˌoʊ!",
    "ɡʊd mˈɔːɹnɪŋ? jˈɛs; nˈoʊ.",
    "kafˈe nˈaɪiːv",  # precomposed é: NFD splits off the combining acute
    "sẽ̃ŋ",  # combining tilde twice
    "t̪ʰa",  # combining dental bridge and aspiration
    "a  b",  # repeated spaces
    "ˈa☃b",  # unknown phoneme in the middle
]
COQUI_STRINGS = [
    "Hello, World!",
    "THE QUICK brown fox; jumps?",
    "Room 101 at 5th Ave.",
    "don't (really) stop-me: now",
    "café naïve ÉCOLE",
    "emoji 😀 and <PAD> text",
    "  spaced\tout\nlines  ",
]


def _piper_ids(phonemes: str, config: dict[str, Any] = PIPER_CONFIG) -> list[int]:
    """Piper's own ids for one sentence of espeak phonemes (its NFD codepoint split)."""
    return phonemes_to_ids(list(unicodedata.normalize("NFD", phonemes)), config["phoneme_id_map"])


def _coqui_ids(config: VitsConfig, text: str) -> list[int]:
    tokenizer, _ = TTSTokenizer.init_from_config(config)
    return tokenizer.text_to_ids(text)


def _grapheme_characters(characters_class: str) -> CharactersConfig:
    """Graphemes like the Coqui peer's ``_characters`` (upper and lower case, no digits)."""
    return CharactersConfig(
        characters_class=characters_class,
        pad="<PAD>",
        eos="<EOS>" if characters_class.endswith("Graphemes") else None,
        bos="<BOS>" if characters_class.endswith("Graphemes") else None,
        blank="<BLNK>",
        characters="".join(sorted(coqui_reference._GRAPHEMES)),
        punctuations=coqui_reference._PUNCTUATIONS,
        phonemes=None,
        is_unique=False,
        is_sorted=True,
    )


# ----------------------------------------------------------------------------- Piper


@pytest.mark.parametrize("phonemes", PHONEME_STRINGS)
def test_piper_ids_match_phonemes_to_ids(phonemes: str) -> None:
    frontend = TextFrontend.from_piper_config(PIPER_CONFIG)
    assert list(frontend.encode(phonemes).token_ids) == _piper_ids(phonemes)


def test_piper_layout_bos_pad_eos() -> None:
    encoded = TextFrontend.from_piper_config(PIPER_CONFIG).encode("ab")
    assert encoded.token_ids == (1, 0, 14, 0, 15, 0, 2)
    assert encoded.unknown == ()


def test_piper_vowel_clusters_and_multi_id_entries() -> None:
    config = {
        **PIPER_CONFIG,
        "phoneme_id_map": {**PIPER_CONFIG["phoneme_id_map"], "_": [0, 200]},
        "vowel_clusters": [["a", "ɪ"], ["o", "ʊ"]],
    }
    text = "maɪ hˈoʊm"
    split = split_piper_phonemes(text, [("a", "ɪ"), ("o", "ʊ")])
    assert "aɪ" in split and "oʊ" in split
    frontend = TextFrontend.from_piper_config(config)
    assert list(frontend.encode(text).token_ids) == phonemes_to_ids(split, config["phoneme_id_map"])


def test_piper_unknown_reported_dropped_or_raised() -> None:
    frontend = TextFrontend.from_piper_config(PIPER_CONFIG)
    encoded = frontend.encode("a☃b☃")
    assert encoded.unknown == ("☃",)
    assert list(encoded.token_ids) == _piper_ids("a☃b☃")
    strict = TextFrontend.from_piper_config(PIPER_CONFIG, on_unknown="error")
    with pytest.raises(InvalidInputError, match="U\\+2603"):
        strict.encode("a☃b")
    with pytest.raises(InvalidInputError):
        frontend.encode("☃☃")


def test_piper_round_trip_and_table() -> None:
    frontend = TextFrontend.from_piper_config(PIPER_CONFIG, on_unknown="error")
    data = json.loads(json.dumps(frontend.to_dict()))
    assert data["kind"] == "piper"
    restored = TextFrontend.from_dict(data)
    assert restored.kind == "piper" and restored.on_unknown == "error" and restored.name == frontend.name
    for phonemes in PHONEME_STRINGS[:-1]:
        assert restored.encode(phonemes) == frontend.encode(phonemes)
    assert restored.symbols[:4] == ("_", "^", "$", " ")
    assert frontend.blank_id == 0
    assert frontend.decode(frontend.encode("ab").token_ids, skip_blanks=True) == "^ab$"


@pytest.mark.parametrize(
    "config, match",
    [
        ({"phoneme_id_map": {}}, "phoneme_id_map"),
        ({"phoneme_id_map": {"a": [1]}}, "special"),
        ({**PIPER_CONFIG, "phoneme_type": "pinyin"}, "pinyin"),
        ({**PIPER_CONFIG, "vowel_clusters": [["q", "q"]]}, "qq"),
    ],
)
def test_piper_bad_configs(config: dict[str, Any], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        TextFrontend.from_piper_config(config)


# ----------------------------------------------------------------------------- Coqui


@pytest.mark.parametrize("add_blank", [True, False])
@pytest.mark.parametrize(
    "characters_class", ["TTS.tts.models.vits.VitsCharacters", "TTS.tts.utils.text.characters.Graphemes"]
)
@pytest.mark.parametrize("text", COQUI_STRINGS)
def test_coqui_grapheme_ids_match_tokenizer(text: str, characters_class: str, add_blank: bool) -> None:
    config = VitsConfig(
        characters=_grapheme_characters(characters_class),
        use_phonemes=False,
        add_blank=add_blank,
        text_cleaner="basic_cleaners",
    )
    frontend = TextFrontend.from_coqui_config(config.to_dict())
    assert list(frontend.encode(text).token_ids) == _coqui_ids(config, text)


@pytest.mark.parametrize("text", COQUI_STRINGS)
def test_coqui_default_characters_eos_bos_and_no_cleaner(text: str) -> None:
    config = VitsConfig(add_blank=True, enable_eos_bos_chars=True)
    frontend = TextFrontend.from_coqui_config(config.to_dict())
    assert list(frontend.encode(text).token_ids) == _coqui_ids(config, text)


def test_coqui_vits_vocabulary_order() -> None:
    config = VitsConfig(characters=_grapheme_characters("TTS.tts.models.vits.VitsCharacters"))
    frontend = TextFrontend.from_coqui_config(config.to_dict())
    tokenizer, _ = TTSTokenizer.init_from_config(config)
    assert list(frontend.symbols) == tokenizer.characters.vocab
    assert frontend.symbols[0] == "<PAD>" and frontend.symbols[-1] == "<BLNK>"
    assert frontend.symbols[1 : 1 + len(coqui_reference._PUNCTUATIONS)] == tuple(coqui_reference._PUNCTUATIONS)
    assert frontend.blank_id == tokenizer.blank_id == len(frontend.symbols) - 1


def test_coqui_phoneme_input() -> None:
    characters = CharactersConfig(
        characters_class="TTS.tts.utils.text.characters.IPAPhonemes",
        pad="<PAD>",
        eos="<EOS>",
        bos="<BOS>",
        blank="<BLNK>",
        characters="abdhilmnoswzæðəɪʊɹˈˌː",
        punctuations="!'(),-.:;? ",
        phonemes=None,
        is_unique=True,
        is_sorted=True,
    )
    config = VitsConfig(characters=characters, use_phonemes=True, add_blank=True)
    frontend = TextFrontend.from_coqui_config(config.to_dict())
    from TTS.tts.utils.text.characters import IPAPhonemes

    vocabulary, _ = IPAPhonemes.init_from_config(config)
    reference = TTSTokenizer(characters=vocabulary, add_blank=True)
    for phonemes in ("həlˈoʊ wˈɜːld!", "ðɪs ɪz ɐ tˈɛst"):
        assert list(frontend.encode(phonemes).token_ids) == reference.text_to_ids(phonemes)
    assert frontend.encode("ɐɛ a").unknown == ("ɐ", "ɛ")


def test_coqui_unknown_and_round_trip() -> None:
    config = VitsConfig(
        characters=_grapheme_characters("TTS.tts.models.vits.VitsCharacters"), text_cleaner="basic_cleaners"
    )
    frontend = TextFrontend.from_coqui_config(config.to_dict())
    encoded = frontend.encode("Room 101 😀!")
    assert encoded.cleaned == "room 101 😀!"
    assert encoded.unknown == ("1", "0", "😀")
    with pytest.raises(InvalidInputError, match="not in the symbol table"):
        TextFrontend.from_coqui_config(config.to_dict(), on_unknown="error").encode("a1")
    with pytest.raises(InvalidInputError):
        frontend.encode("123")
    data = json.loads(json.dumps(frontend.to_dict()))
    assert data["kind"] == "coqui"
    restored = TextFrontend.from_dict(data)
    assert restored.kind == "coqui" and restored.symbols == frontend.symbols
    for text in COQUI_STRINGS:
        assert restored.encode(text) == frontend.encode(text)
    with pytest.raises(SpecError):
        frontend.to_transformers_files("/nonexistent-dir-never-written")


@pytest.mark.parametrize(
    "change, match",
    [
        ({"text_cleaner": "english_cleaners"}, "english_cleaners"),
        ({"text_cleaner": "phoneme_cleaners"}, "phoneme_cleaners"),
        ({"characters": {"characters_class": "my.Chars", "characters": "ab", "punctuations": ""}}, "my.Chars"),
        ({"use_phonemes": True, "characters": None}, "characters"),
        ({"enable_eos_bos_chars": True}, "bos and eos"),
    ],
)
def test_coqui_bad_configs(change: dict[str, Any], match: str) -> None:
    config = VitsConfig(characters=_grapheme_characters("TTS.tts.models.vits.VitsCharacters")).to_dict()
    with pytest.raises(SpecError, match=match):
        TextFrontend.from_coqui_config({**config, **change})


def test_unknown_kind_lists_new_kinds() -> None:
    with pytest.raises(SpecError, match="'piper', 'coqui'"):
        TextFrontend.from_dict({"kind": "espnet"})
