"""Coqui-TTS character vocabularies and ``TTSTokenizer.text_to_ids`` semantics, from a config dict."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from vits_adapters.errors import SpecError

__all__ = ["COQUI_CLEANERS", "CoquiCharacterRules", "coqui_basic_cleaners", "coqui_no_cleaners"]

# CharactersConfig's defaults (coqui-tts 0.28), used for keys a config leaves out.
_CHARACTERS_DEFAULTS: dict[str, Any] = {
    "characters_class": None,
    "vocab_dict": None,
    "pad": "<PAD>",
    "eos": None,
    "bos": None,
    "blank": None,
    "characters": None,
    "punctuations": None,
    "phonemes": None,
    "is_unique": True,
    "is_sorted": True,
}
# The ``Graphemes()`` set Coqui falls back to when a grapheme config has no ``characters`` at all.
_DEFAULT_GRAPHEMES: dict[str, Any] = {
    **_CHARACTERS_DEFAULTS,
    "characters_class": "TTS.tts.utils.text.characters.Graphemes",
    "pad": "<PAD>",
    "eos": "<EOS>",
    "bos": "<BOS>",
    "blank": "<BLNK>",
    "characters": string.ascii_uppercase + string.ascii_lowercase,
    "punctuations": "!'(),-.:;? ",
    "is_unique": False,
}
_VITS_BLANK = "<BLNK>"
_CLASSES = ("VitsCharacters", "Graphemes", "IPAPhonemes")
_WHITESPACE_RE = re.compile(r"\s+")


def coqui_basic_cleaners(text: str) -> str:
    """Coqui's ``basic_cleaners``: NFC, lowercase, collapse whitespace and strip the ends."""
    return _WHITESPACE_RE.sub(" ", unicodedata.normalize("NFC", text).lower()).strip()


def coqui_no_cleaners(text: str) -> str:
    """Coqui's ``no_cleaners``: only remove newlines."""
    return text.replace("\n", "")


COQUI_CLEANERS: dict[str, Callable[[str], str]] = {
    "basic_cleaners": coqui_basic_cleaners,
    "no_cleaners": coqui_no_cleaners,
}


def _optional_string(characters: Mapping[str, Any], key: str) -> str | None:
    """``characters[key]`` as a string or ``None``."""
    value = characters[key]
    if value is not None and not isinstance(value, str):
        raise SpecError(f"Coqui characters.{key} must be a string, got {value!r}")
    return value


def _required_string(characters: Mapping[str, Any], key: str) -> str:
    """``characters[key]`` as a string; ``None`` is a ``SpecError``."""
    value = _optional_string(characters, key)
    if value is None:
        raise SpecError(f"Coqui characters.{key} must be set (a string), not null")
    return value


def _class_name(characters_class: Any, use_phonemes: bool) -> str:
    """The supported class named by ``characters_class`` (its default when unset)."""
    if characters_class in (None, ""):
        return "IPAPhonemes" if use_phonemes else "Graphemes"
    if not isinstance(characters_class, str):
        raise SpecError(f"Coqui characters_class must be a string, got {characters_class!r}")
    name = characters_class.rsplit(".", 1)[-1]
    if name not in _CLASSES or not characters_class.startswith("TTS."):
        raise SpecError(
            f"Coqui characters_class {characters_class!r} is not supported; supported: "
            "TTS.tts.models.vits.VitsCharacters, TTS.tts.utils.text.characters.Graphemes, "
            "TTS.tts.utils.text.characters.IPAPhonemes"
        )
    return name


def _vits_vocab(characters: Mapping[str, Any]) -> tuple[list[str], str | None, str | None, str | None]:
    """``VitsCharacters``: ``[pad, *punctuations, *characters, *phonemes, "<BLNK>"]``, unsorted."""
    pad = _required_string(characters, "pad")
    graphemes = _required_string(characters, "characters")
    punctuations = _required_string(characters, "punctuations")
    phonemes = _optional_string(characters, "phonemes")
    if not pad:
        raise SpecError("Coqui VitsCharacters needs a non-empty pad symbol")
    letters = graphemes + (phonemes or "")
    return [pad, *punctuations, *letters, _VITS_BLANK], _VITS_BLANK, None, None


def _base_vocab(
    characters: Mapping[str, Any], class_name: str
) -> tuple[list[str], str | None, str | None, str | None]:
    """``BaseCharacters``: ``[pad, eos, bos, blank]`` (those set), then the characters, then punctuations."""
    key = "phonemes" if class_name == "IPAPhonemes" and characters["phonemes"] is not None else "characters"
    letters = _required_string(characters, key)
    punctuations = _required_string(characters, "punctuations")
    specials = {name: _optional_string(characters, name) for name in ("pad", "eos", "bos", "blank")}
    is_unique, is_sorted = bool(characters["is_unique"]), bool(characters["is_sorted"])
    if is_unique and not is_sorted:
        raise SpecError("Coqui characters with is_unique=True and is_sorted=False have no stable order")
    ordered = sorted(set(letters)) if is_unique else (sorted(letters) if is_sorted else list(letters))
    head = [specials[name] for name in ("pad", "eos", "bos", "blank") if specials[name]]
    vocab = [*head, *ordered, *punctuations]
    if is_unique and len(set(vocab)) != len(vocab):
        duplicates = sorted({symbol for symbol in vocab if vocab.count(symbol) > 1})
        raise SpecError(f"Coqui characters with is_unique=True list duplicates: {duplicates}")
    return vocab, specials["blank"] or None, specials["bos"] or None, specials["eos"] or None


class CoquiCharacterRules:
    """``TTSTokenizer.text_to_ids`` for one Coqui VITS config, without phonemization.

    Grapheme configs (``use_phonemes`` false) take text: cleaner, per-character lookup (unknown
    characters dropped), blanks interleaved, then bos/eos. Phoneme configs take phonemes: the
    cleaner is skipped (Coqui runs it before phonemizing), the rest is the same.
    """

    kind = "coqui"

    def __init__(self, config: Mapping[str, Any]) -> None:
        """Read ``characters``, ``add_blank``, ``use_phonemes``, ``text_cleaner``, ``enable_eos_bos_chars``."""
        if not isinstance(config, Mapping):
            raise SpecError(f"a Coqui config must be a mapping, got {type(config).__name__}")
        flags: dict[str, bool] = {}
        for key in ("add_blank", "use_phonemes", "enable_eos_bos_chars"):
            value = config.get(key, False)
            if not isinstance(value, bool):
                raise SpecError(f"Coqui config {key!r} must be true or false, got {value!r}")
            flags[key] = value
        self.add_blank = flags["add_blank"]
        self.use_phonemes = flags["use_phonemes"]
        self.use_eos_bos = flags["enable_eos_bos_chars"]
        cleaner = config.get("text_cleaner")
        if cleaner is not None and (not isinstance(cleaner, str) or cleaner not in COQUI_CLEANERS):
            raise SpecError(
                f"Coqui text_cleaner {cleaner!r} is not supported; supported: "
                f"{', '.join(COQUI_CLEANERS)} (or none). Clean the text yourself and use no_cleaners."
            )
        self.text_cleaner: str | None = cleaner
        raw = config.get("characters")
        if raw is None and self.use_phonemes:
            raise SpecError("a Coqui phoneme config must spell out its 'characters' (the IPA default is not built in)")
        if raw is not None and not isinstance(raw, Mapping):
            raise SpecError(f"Coqui 'characters' must be a mapping, got {type(raw).__name__}")
        extra = sorted(set(raw or {}) - set(_CHARACTERS_DEFAULTS))
        if extra:
            raise SpecError(f"unknown Coqui characters field(s): {', '.join(map(str, extra))}")
        characters = dict(_DEFAULT_GRAPHEMES) if raw is None else {**_CHARACTERS_DEFAULTS, **raw}
        if characters["vocab_dict"] is not None:
            raise SpecError("Coqui characters with a vocab_dict (BaseVocabulary) are not supported")
        self.class_name = _class_name(characters["characters_class"], self.use_phonemes)
        self.characters = characters
        if self.class_name == "VitsCharacters":
            vocab, blank, bos, eos = _vits_vocab(characters)
        else:
            vocab, blank, bos, eos = _base_vocab(characters, self.class_name)
        self.vocab = tuple(vocab)
        # Later duplicates win, as Coqui's ``{char: idx for idx, char in enumerate(vocab)}``.
        self.lookup = {symbol: index for index, symbol in enumerate(self.vocab)}
        if self.add_blank and blank is None:
            raise SpecError("Coqui add_blank needs a blank symbol in 'characters'")
        if self.use_eos_bos and (bos is None or eos is None):
            raise SpecError(
                "Coqui enable_eos_bos_chars needs bos and eos symbols (Coqui would emit the "
                f"out-of-vocabulary id {len(self.vocab)})"
            )
        self.blank_id = self.lookup[blank] if blank is not None else None
        self.bos_id = self.lookup[bos] if bos is not None else None
        self.eos_id = self.lookup[eos] if eos is not None else None

    def describe(self) -> str:
        """A default name for error messages."""
        return f"Coqui {self.class_name} vocabulary of {len(self.vocab)} symbols"

    def table(self) -> tuple[str, ...]:
        """The vocabulary by id (duplicated symbols keep every position)."""
        return self.vocab

    def clean(self, text: str) -> str:
        """The configured cleaner for grapheme input; phoneme input is left as is."""
        if self.use_phonemes or self.text_cleaner is None:
            return text
        return COQUI_CLEANERS[self.text_cleaner](text)

    def encode(self, text: str) -> tuple[list[int], str, list[str]]:
        """Ids as Coqui's tokenizer makes them, the cleaned text, and unknown characters.

        The ids are ``[]`` when no character is known (Coqui would return blanks/bos/eos only).
        """
        cleaned = self.clean(text)
        ids: list[int] = []
        unknown: dict[str, None] = {}
        for char in cleaned:
            token_id = self.lookup.get(char)
            if token_id is None:
                unknown.setdefault(char, None)
            else:
                ids.append(token_id)
        if not ids:
            return [], cleaned, list(unknown)
        if self.blank_id is not None and self.add_blank:
            interleaved = [self.blank_id] * (2 * len(ids) + 1)
            interleaved[1::2] = ids
            ids = interleaved
        if self.use_eos_bos and self.bos_id is not None and self.eos_id is not None:
            ids = [self.bos_id, *ids, self.eos_id]
        return ids, cleaned, list(unknown)

    def to_config(self) -> dict[str, Any]:
        """The Coqui config subset this was built from (JSON-serializable)."""
        return {
            "characters": dict(self.characters),
            "add_blank": self.add_blank,
            "use_phonemes": self.use_phonemes,
            "text_cleaner": self.text_cleaner,
            "enable_eos_bos_chars": self.use_eos_bos,
        }
