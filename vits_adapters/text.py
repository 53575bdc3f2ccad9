"""Turn text into the token ids a VITS checkpoint was trained on: cleaners, symbol lookup, blanks."""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vits_adapters.atomic import atomic_write
from vits_adapters.errors import InvalidInputError, SpecError

# The symbol table of the original VITS release (jaywalnut310/vits, text/symbols.py).
_PAD = "_"
_PUNCTUATION = ';:,.!?¡¿—…"«»“” '
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# The tail "'\u0329'" is an apostrophe, a lone COMBINING VERTICAL LINE BELOW and a second
# apostrophe: upstream lists "'" twice, so the table has 178 entries but 177 distinct symbols.
_LETTERS_IPA = (
    "ɑɐɒæɓʙβɔɕçɗɖðʤəɘɚɛɜɝɞɟʄɡɠɢʛɦɧħɥʜɨɪʝɭɬɫɮʟɱɯɰŋɳɲɴøɵɸθœɶʘɹɺɾɻʀʁɽʂʃʈʧʉʊʋⱱʌɣɤʍχʎʏʑʐʒʔʡʕʢǀǁǂǃ"
    "ˈˌːˑʼʴʰʱʲʷˠˤ˞↓↑→↗↘"
    "'\u0329'"
    "ᵻ"
)

ORIGINAL_VITS_SYMBOLS: tuple[str, ...] = (_PAD, *_PUNCTUATION, *_LETTERS, *_LETTERS_IPA)
"""The 178 symbols of the original VITS release; index = token id."""

ORIGINAL_VITS_NAME = "original VITS (jaywalnut310/vits text/symbols.py)"

ON_UNKNOWN_MODES = ("error", "drop")
_MAX_LISTED_UNKNOWN = 20
_INSTALL_HINT = (
    "The checkpoint's cleaners need espeak phonemes. Install them with "
    "`apt-get install espeak-ng` and `pip install phonemizer`, or skip the cleaners: pass "
    "token_ids= directly, or pass already-phonemized text with cleaners=[]."
)


class PhonemizerUnavailableError(InvalidInputError):
    """A phonemizing cleaner was requested but phonemizer or the espeak-ng library is missing."""


class RomanizationRequiredError(InvalidInputError):
    """The text is in a script the voice cannot read: it expects romanized (``uroman``) input."""


# --- cleaners (the pipelines of jaywalnut310/vits text/cleaners.py) ---------------------------

_WHITESPACE_RE = re.compile(r"\s+")

_ABBREVIATIONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(rf"\b{short}\.", re.IGNORECASE), full)
    for short, full in (
        ("mrs", "misess"),
        ("mr", "mister"),
        ("dr", "doctor"),
        ("st", "saint"),
        ("co", "company"),
        ("jr", "junior"),
        ("maj", "major"),
        ("gen", "general"),
        ("drs", "doctors"),
        ("rev", "reverend"),
        ("lt", "lieutenant"),
        ("hon", "honorable"),
        ("sgt", "sergeant"),
        ("capt", "captain"),
        ("esq", "esquire"),
        ("ltd", "limited"),
        ("col", "colonel"),
        ("ft", "fort"),
    )
)

# Letters and marks that NFKD does not decompose to ASCII, spelled as unidecode spells them.
_ASCII_REPLACEMENTS = str.maketrans(
    {
        "ß": "ss",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ø": "o",
        "Ø": "O",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "ð": "d",
        "Ð": "D",
        "þ": "th",
        "Þ": "Th",
        "ı": "i",
        "‘": "'",
        "’": "'",
        "“": '"',
        "”": '"',
        "«": "<<",
        "»": ">>",
        "–": "-",
        "—": "--",
    }
)


def collapse_whitespace(text: str) -> str:
    """Replace every run of whitespace with a single space (ends are kept, as upstream)."""
    return _WHITESPACE_RE.sub(" ", text)


def expand_abbreviations(text: str) -> str:
    """Expand English abbreviations written as a whole word followed by a period."""
    for pattern, replacement in _ABBREVIATIONS:
        text = pattern.sub(replacement, text)
    return text


def convert_to_ascii(text: str) -> str:
    """Transliterate to ASCII: a few fixed spellings, then NFKD, dropping marks and non-ASCII.

    An approximation of ``unidecode`` that covers accented Latin text; characters without an
    ASCII spelling (CJK, Cyrillic, ...) are dropped rather than romanized.
    """
    decomposed = unicodedata.normalize("NFKD", text.translate(_ASCII_REPLACEMENTS))
    return "".join(ch for ch in decomposed if ch.isascii() and not unicodedata.combining(ch))


def _load_phonemize() -> Callable[..., Any]:
    """Return ``phonemizer.phonemize`` or raise ``PhonemizerUnavailableError`` saying what is missing."""
    try:
        import phonemizer
        from phonemizer.backend import EspeakBackend
    except ImportError as exc:
        raise PhonemizerUnavailableError(
            f"the phonemizer package is not installed. {_INSTALL_HINT}"
        ) from exc
    if not EspeakBackend.is_available():
        raise PhonemizerUnavailableError(
            f"phonemizer cannot find the espeak-ng library. {_INSTALL_HINT}"
        )
    return phonemizer.phonemize


def _phonemize_english(text: str, *, punctuation_and_stress: bool) -> str:
    """Phonemize US English with espeak, as upstream's english cleaners do."""
    phonemize = _load_phonemize()
    if punctuation_and_stress:
        result = phonemize(
            text,
            language="en-us",
            backend="espeak",
            strip=True,
            preserve_punctuation=True,
            with_stress=True,
        )
    else:
        result = phonemize(text, language="en-us", backend="espeak", strip=True)
    return str(result)


def basic_cleaners(text: str) -> str:
    """Lowercase and collapse whitespace, without transliteration."""
    return collapse_whitespace(text.lower())


def transliteration_cleaners(text: str) -> str:
    """Transliterate to ASCII, lowercase and collapse whitespace."""
    return collapse_whitespace(convert_to_ascii(text).lower())


def english_cleaners(text: str) -> str:
    """ASCII, lowercase, expand abbreviations, espeak phonemes without punctuation or stress."""
    text = expand_abbreviations(convert_to_ascii(text).lower())
    return collapse_whitespace(_phonemize_english(text, punctuation_and_stress=False))


def english_cleaners2(text: str) -> str:
    """ASCII, lowercase, expand abbreviations, espeak phonemes keeping punctuation and stress."""
    text = expand_abbreviations(convert_to_ascii(text).lower())
    return collapse_whitespace(_phonemize_english(text, punctuation_and_stress=True))


CLEANERS: dict[str, Callable[[str], str]] = {
    "basic_cleaners": basic_cleaners,
    "transliteration_cleaners": transliteration_cleaners,
    "english_cleaners": english_cleaners,
    "english_cleaners2": english_cleaners2,
}


# --- encoding ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EncodedText:
    """Token ids for one text, the text after cleaners, and the characters the table lacks."""

    token_ids: tuple[int, ...]
    cleaned: str
    unknown: tuple[str, ...]


def _describe_char(ch: str) -> str:
    """``'é' (U+00E9)``."""
    return f"{ch!r} (U+{ord(ch):04X})"


def intersperse(token_ids: Sequence[int], blank_id: int) -> list[int]:
    """``[blank, t1, blank, t2, ..., tn, blank]``."""
    result = [blank_id] * (2 * len(token_ids) + 1)
    result[1::2] = token_ids
    return result


# --- transformers VitsTokenizer (MMS-TTS vocab.json + tokenizer_config.json) -------------------

TRANSFORMERS_ON_UNKNOWN_MODES = ("error", "drop", "unk")
# The order in which PreTrainedTokenizer registers named special tokens as added tokens.
_SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
_SPECIAL_TOKEN_DEFAULTS = {"unk_token": "<unk>", "pad_token": "<pad>"}
_FLAG_DEFAULTS = {"add_blank": True, "normalize": True, "phonemize": True, "is_uroman": False}
_MAX_TOKEN_ID = 1_000_000
_EXPORT_UNK_TOKEN = "<unk>"
_ROMANIZE_HINT = (
    "Romanize it first (`pip install uroman`, then `uroman.Uroman().romanize_string(text)`), "
    "pass already-romanized text, or pass token_ids= directly."
)


@dataclass(frozen=True)
class VitsTokenizerSettings:
    """What ``vocab.json`` and ``tokenizer_config.json`` tell ``transformers.VitsTokenizer``.

    ``vocab`` keeps the file's order (normalisation tries entries in that order);
    ``special_tokens`` holds the named special tokens (``None`` = explicitly unset);
    ``added_tokens`` is the config's explicit ``added_tokens_decoder`` as (id, content) pairs.
    """

    vocab: tuple[tuple[str, int], ...]
    add_blank: bool = True
    normalize: bool = True
    phonemize: bool = True
    is_uroman: bool = False
    language: str | None = None
    special_tokens: tuple[tuple[str, str | None], ...] = (("unk_token", "<unk>"), ("pad_token", "<pad>"))
    added_tokens: tuple[tuple[int, str], ...] = ()
    split_special_tokens: bool = False

    @property
    def filters(self) -> bool:
        """True when VitsTokenizer deletes out-of-vocabulary characters (normalize without phonemize)."""
        return self.normalize and not self.phonemize

    def tokenizer_config(self) -> dict[str, Any]:
        """The ``tokenizer_config.json`` content that makes VitsTokenizer behave like these settings."""
        config: dict[str, Any] = {
            "add_blank": self.add_blank,
            "is_uroman": self.is_uroman,
            "language": self.language,
            "normalize": self.normalize,
            "phonemize": self.phonemize,
        }
        config.update(self.special_tokens)
        if self.added_tokens:
            config["added_tokens_decoder"] = {
                str(token_id): {
                    "content": content,
                    "lstrip": False,
                    "normalized": False,
                    "rstrip": False,
                    "single_word": False,
                    "special": True,
                }
                for token_id, content in self.added_tokens
            }
        if self.split_special_tokens:
            config["split_special_tokens"] = True
        config["tokenizer_class"] = "VitsTokenizer"
        return config


def _token_content(value: Any, where: str) -> str | None:
    """A special or added token as VitsTokenizer reads it: a string, ``None``, or an AddedToken mapping."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        for flag in ("lstrip", "rstrip", "single_word"):
            if value.get(flag):
                raise SpecError(f"{where}: {flag}=true is not supported")
        value = value.get("content")
    if not isinstance(value, str) or not value:
        raise SpecError(f"{where} must be a non-empty string, got {value!r}")
    return value


def _parse_vocab(vocab: Any) -> tuple[tuple[str, int], ...]:
    """Validate a ``vocab.json`` mapping (symbol -> id), keeping its order."""
    if not isinstance(vocab, Mapping) or not vocab:
        raise SpecError(f"vocab.json must be a non-empty object of symbol -> id, got {type(vocab).__name__}")
    for symbol, token_id in vocab.items():
        if not isinstance(symbol, str) or not symbol:
            raise SpecError(f"vocab.json symbols must be non-empty strings, got {symbol!r}")
        if isinstance(token_id, bool) or not isinstance(token_id, int) or not 0 <= token_id < _MAX_TOKEN_ID:
            raise SpecError(
                f"vocab.json id of {symbol!r} must be an integer in 0..{_MAX_TOKEN_ID - 1}, got {token_id!r}"
            )
    return tuple(vocab.items())


def _parse_tokenizer_config(vocab: Any, config: Any) -> VitsTokenizerSettings:
    """Settings from ``vocab.json`` and ``tokenizer_config.json`` contents, with VitsTokenizer's defaults."""
    if not isinstance(config, Mapping):
        raise SpecError(f"tokenizer_config.json must be an object, got {type(config).__name__}")
    tokenizer_class = config.get("tokenizer_class")
    if tokenizer_class is not None and tokenizer_class != "VitsTokenizer":
        raise SpecError(f"tokenizer_config.json names tokenizer_class {tokenizer_class!r}, not 'VitsTokenizer'")
    for key in ("extra_special_tokens", "additional_special_tokens"):
        if config.get(key):
            raise SpecError(f"tokenizer_config.json {key!r} is not supported")
    flags: dict[str, bool] = {}
    for key, default in (*_FLAG_DEFAULTS.items(), ("split_special_tokens", False)):
        value = config.get(key, default)
        if not isinstance(value, bool):
            raise SpecError(f"tokenizer_config.json {key!r} must be true or false, got {value!r}")
        flags[key] = value
    language = config.get("language")
    if language is not None and not isinstance(language, str):
        raise SpecError(f"tokenizer_config.json 'language' must be a string, got {language!r}")
    special: list[tuple[str, str | None]] = []
    for key in _SPECIAL_TOKEN_KEYS:
        if key in config:
            special.append((key, _token_content(config[key], f"tokenizer_config.json {key!r}")))
        elif key in _SPECIAL_TOKEN_DEFAULTS:
            special.append((key, _SPECIAL_TOKEN_DEFAULTS[key]))
    raw_added = config.get("added_tokens_decoder") or {}
    if not isinstance(raw_added, Mapping):
        raise SpecError("tokenizer_config.json 'added_tokens_decoder' must be an object of id -> token")
    added: list[tuple[int, str]] = []
    for key, value in raw_added.items():
        where = f"tokenizer_config.json added_tokens_decoder[{key!r}]"
        try:
            token_id = int(key)
        except (TypeError, ValueError) as exc:
            raise SpecError(f"{where}: the key must be an integer id") from exc
        content = _token_content(value, where)
        if content is None or not 0 <= token_id < _MAX_TOKEN_ID:
            raise SpecError(f"{where} must be a token with an id in 0..{_MAX_TOKEN_ID - 1}")
        added.append((token_id, content))
    return VitsTokenizerSettings(
        vocab=_parse_vocab(vocab),
        language=language,
        special_tokens=tuple(special),
        added_tokens=tuple(added),
        **flags,
    )


def _is_letter(ch: str) -> bool:
    """A cased or uncased letter (modifier letters such as ``ˈ`` and ``ː`` excluded)."""
    return unicodedata.category(ch) in ("Lu", "Ll", "Lt", "Lo")


def _is_latin(ch: str) -> bool:
    """A Latin letter, or one whose compatibility decomposition is ASCII (``ª``, ``ﬁ``)."""
    return "LATIN" in unicodedata.name(ch, "") or unicodedata.normalize("NFKD", ch).isascii()


def _read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; malformed JSON or repeated keys are a ``SpecError``."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise SpecError(f"{path}: key {key!r} appears more than once")
            result[key] = value
        return result

    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle, object_pairs_hook=unique)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


class _VitsTokenizerRules:
    """The text -> id arithmetic of ``transformers.VitsTokenizer`` for one set of settings."""

    def __init__(self, settings: VitsTokenizerSettings) -> None:
        self.settings = settings
        self.encoder = dict(settings.vocab)
        self.decoder = {token_id: symbol for symbol, token_id in settings.vocab}
        # PreTrainedTokenizer.__init__ registers each special token as an added token: at its id in
        # get_vocab() when present there, else at the next free index len(get_vocab()).
        added = dict(settings.added_tokens)
        added_ids = {content: token_id for token_id, content in added.items()}
        current = {added.get(i, self.decoder.get(i)): i for i in range(len(self.encoder))}
        current.update({added[i]: i for i in sorted(added)})
        next_id = len(current)
        for token in dict.fromkeys(value for _, value in settings.special_tokens if value is not None):
            if token in added_ids:
                continue
            if token in current:
                token_id = current[token]
            else:
                token_id = next_id
                current[token] = token_id
                next_id += 1
            added[token_id] = token
            added_ids[token] = token_id
        self.added = added
        self.added_ids = added_ids
        unk = dict(settings.special_tokens).get("unk_token")
        self.unk_id = added_ids.get(unk) if unk is not None else None
        # _tokenize takes the blank from the vocabulary's id 0, then converts it back to an id.
        blank = self.decoder.get(0)
        self.blank_id = self.char_id(blank) if blank is not None else self.unk_id
        if settings.add_blank and self.blank_id is None:
            raise SpecError("add_blank needs a vocabulary entry with id 0 (or an unk_token) to use as the blank")
        # normalize_text tries vocabulary entries in file order, then added tokens by id.
        self._case_words: dict[str, list[str]] = {}
        for word in (*self.encoder, *dict.fromkeys(added[i] for i in sorted(added))):
            self._case_words.setdefault(word[0], []).append(word)
        # Added tokens split the text before tokenization, longest match first.
        self._split_words: dict[str, list[str]] = {}
        for word in sorted(set(added.values()), key=len, reverse=True):
            self._split_words.setdefault(word[0], []).append(word)
        letters = [ch for ch in self.encoder if len(ch) == 1 and _is_letter(ch)]
        self.latin_only = bool(letters) and all(_is_latin(ch) for ch in letters)
        if settings.filters:
            self.default_on_unknown = "drop"
        else:
            self.default_on_unknown = "unk" if self.unk_id is not None else "error"

    def char_id(self, token: str) -> int | None:
        """The id of a token (added tokens first, then the vocabulary), or ``None``."""
        token_id = self.added_ids.get(token)
        return token_id if token_id is not None else self.encoder.get(token)

    def normalize(self, text: str) -> str:
        """Lowercase, except that a vocabulary entry found verbatim is copied as is (first entry wins)."""
        parts: list[str] = []
        position = 0
        while position < len(text):
            for word in self._case_words.get(text[position], ()):
                if text.startswith(word, position):
                    parts.append(word)
                    position += len(word)
                    break
            else:
                parts.append(text[position].lower())
                position += 1
        return "".join(parts)

    def check_romanized(self, text: str, name: str) -> None:
        """Raise ``RomanizationRequiredError`` for characters only romanization could make readable."""
        settings = self.settings
        if settings.is_uroman:
            offending = [
                ch for ch in dict.fromkeys(text) if not ch.isascii() and (settings.phonemize or ch not in self.encoder)
            ]
            reason = "its tokenizer_config.json sets is_uroman: true; transformers would run uroman"
        elif self.latin_only and not settings.phonemize:
            offending = [
                ch for ch in dict.fromkeys(text) if ch not in self.encoder and _is_letter(ch) and not _is_latin(ch)
            ]
            reason = "its vocabulary is Latin-only"
        else:
            return
        if offending:
            listed = ", ".join(_describe_char(ch) for ch in offending[:_MAX_LISTED_UNKNOWN])
            if len(offending) > _MAX_LISTED_UNKNOWN:
                listed += f" (+{len(offending) - _MAX_LISTED_UNKNOWN} more)"
            raise RomanizationRequiredError(
                f"the text needs romanization: {listed} cannot be read by {name}, which expects romanized "
                f"text ({reason}). {_ROMANIZE_HINT}"
            )

    def prepare(self, text: str, name: str) -> str:
        """``prepare_for_tokenization`` up to the out-of-vocabulary filter: normalize, ``ron``, phonemize."""
        if self.settings.normalize:
            text = self.normalize(text)
        if self.settings.language == "ron":
            text = text.replace("\u021b", "\u0163")  # t with comma below -> t with cedilla
        self.check_romanized(text, name)
        if self.settings.phonemize:
            text = collapse_whitespace(_phonemize_english(text, punctuation_and_stress=True))
        return text

    def split(self, text: str) -> list[tuple[str, bool]]:
        """Cut ``text`` at added tokens: (piece, is_added_token) pairs, empty pieces left out."""
        if self.settings.split_special_tokens:
            return [(text, False)]
        pieces: list[tuple[str, bool]] = []
        start = position = 0
        while position < len(text):
            for word in self._split_words.get(text[position], ()):
                if text.startswith(word, position):
                    if start < position:
                        pieces.append((text[start:position], False))
                    pieces.append((word, True))
                    position += len(word)
                    start = position
                    break
            else:
                position += 1
        if start < len(text):
            pieces.append((text[start:], False))
        return pieces

    def table(self) -> tuple[str, ...]:
        """Symbol per id (added tokens over the vocabulary); ids nothing maps to hold ``""``."""
        size = max([*self.decoder, *self.added]) + 1
        return tuple(self.added.get(i, self.decoder.get(i, "")) for i in range(size))


class TextFrontend:
    """Cleaners plus a symbol table: maps text to the token ids of one checkpoint."""

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        cleaners: Sequence[str] = (),
        add_blank: bool = False,
        blank_id: int = 0,
        on_unknown: str = "error",
        allow_duplicates: bool = False,
        name: str | None = None,
    ) -> None:
        """Validate the table and cleaner names; ``SpecError`` names whatever is wrong.

        ``allow_duplicates`` accepts a symbol listed twice, the later id winning as in upstream's
        ``{s: i for i, s in enumerate(symbols)}``; ``name`` labels the table in error messages.
        """
        table = tuple(symbols)
        if not table:
            raise SpecError("the symbol table is empty")
        for index, symbol in enumerate(table):
            if not isinstance(symbol, str) or not symbol:
                raise SpecError(f"symbol {index} must be a non-empty string, got {symbol!r}")
        lookup: dict[str, int] = {}
        duplicates: list[str] = []
        for index, symbol in enumerate(table):
            if symbol in lookup and symbol not in duplicates:
                duplicates.append(symbol)
            lookup[symbol] = index
        if duplicates and not allow_duplicates:
            listed = ", ".join(repr(s) for s in duplicates)
            raise SpecError(
                f"duplicate symbols in the symbol table: {listed} "
                "(pass allow_duplicates=True to let the last occurrence win, as upstream VITS does)"
            )
        cleaner_names = (cleaners,) if isinstance(cleaners, str) else tuple(cleaners)
        for cleaner in cleaner_names:
            if cleaner not in CLEANERS:
                raise SpecError(f"unknown cleaner {cleaner!r}; known cleaners: {', '.join(CLEANERS)}")
        if on_unknown not in ON_UNKNOWN_MODES:
            raise SpecError(f"on_unknown must be one of {ON_UNKNOWN_MODES}, got {on_unknown!r}")
        if isinstance(blank_id, bool) or not isinstance(blank_id, int) or not 0 <= blank_id < len(table):
            raise SpecError(f"blank_id must be an id in 0..{len(table) - 1}, got {blank_id!r}")
        self._symbols = table
        self._lookup = lookup
        self._max_len = max(len(symbol) for symbol in table)
        self.cleaners = cleaner_names
        self.add_blank = bool(add_blank)
        self.blank_id = blank_id
        self.on_unknown = on_unknown
        self.allow_duplicates = bool(allow_duplicates)
        self.name = name if name is not None else f"custom table of {len(table)} symbols"
        self._vits: _VitsTokenizerRules | None = None

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbol table; index = token id (``""`` for ids a transformers vocabulary leaves unused)."""
        return self._symbols

    @property
    def kind(self) -> str:
        """``"transformers"`` for a ``VitsTokenizer`` vocabulary, else ``"symbols"``."""
        return "transformers" if self._vits is not None else "symbols"

    @property
    def transformers_settings(self) -> VitsTokenizerSettings | None:
        """The ``VitsTokenizer`` settings of a transformers frontend, else ``None``."""
        return self._vits.settings if self._vits is not None else None

    def __repr__(self) -> str:
        return (
            f"TextFrontend(name={self.name!r}, symbols={len(self._symbols)}, "
            f"cleaners={list(self.cleaners)}, add_blank={self.add_blank})"
        )

    def clean(self, text: str) -> str:
        """Run the cleaners in order (for a transformers frontend: VitsTokenizer's normalisation)."""
        if self._vits is not None:
            return self._vits.prepare(text, self.name)
        for cleaner in self.cleaners:
            text = CLEANERS[cleaner](text)
        return text

    def _lookup_symbols(self, cleaned: str) -> tuple[list[int], list[str]]:
        """Longest-match ``cleaned`` against the table: the ids and the unique unknown characters."""
        ids: list[int] = []
        unknown: dict[str, None] = {}
        position = 0
        while position < len(cleaned):
            for length in range(min(self._max_len, len(cleaned) - position), 0, -1):
                token_id = self._lookup.get(cleaned[position : position + length])
                if token_id is not None:
                    ids.append(token_id)
                    position += length
                    break
            else:
                unknown.setdefault(cleaned[position], None)
                position += 1
        return ids, list(unknown)

    def encode(self, text: str) -> EncodedText:
        """Clean ``text``, look its symbols up, and intersperse blanks if configured."""
        if not isinstance(text, str):
            raise InvalidInputError(f"text must be a string, got {type(text).__name__}")
        if self._vits is not None:
            return self._encode_transformers(self._vits, text)
        cleaned = self.clean(text)
        ids, unknown = self._lookup_symbols(cleaned)
        if unknown and self.on_unknown == "error":
            self._raise_unknown(unknown, cleaned)
        if not ids:
            self._raise_empty(text, cleaned, unknown)
        if self.add_blank:
            ids = intersperse(ids, self.blank_id)
        return EncodedText(token_ids=tuple(ids), cleaned=cleaned, unknown=tuple(unknown))

    def _raise_unknown(self, unknown: Sequence[str], cleaned: str) -> None:
        """``InvalidInputError`` listing the characters the table lacks."""
        listed = ", ".join(_describe_char(ch) for ch in unknown[:_MAX_LISTED_UNKNOWN])
        if len(unknown) > _MAX_LISTED_UNKNOWN:
            listed += f" (+{len(unknown) - _MAX_LISTED_UNKNOWN} more)"
        raise InvalidInputError(
            f"{len(unknown)} character(s) not in the symbol table {self.name}: {listed}. "
            f"Cleaned text: {cleaned!r}. Pass on_unknown='drop' to skip them."
        )

    def _raise_empty(self, text: str, cleaned: str, unknown: Sequence[str]) -> None:
        """``InvalidInputError`` for text that yields no token at all."""
        detail = f"; unknown characters: {', '.join(map(_describe_char, unknown))}" if unknown else ""
        raise InvalidInputError(
            f"no known symbols in the text (symbol table {self.name}); "
            f"input {text!r} cleaned to {cleaned!r}{detail}"
        )

    def _encode_transformers(self, rules: _VitsTokenizerRules, text: str) -> EncodedText:
        """``VitsTokenizer(...)(text).input_ids``, with out-of-vocabulary characters reported.

        With the default ``on_unknown`` the ids are VitsTokenizer's: "drop" where it deletes
        unknown characters (normalize without phonemize), "unk" where it maps them to ``unk_token``.
        """
        cleaned = rules.prepare(text, self.name)
        unknown: dict[str, None] = {}
        body = cleaned
        if rules.settings.filters:
            unknown.update((ch, None) for ch in cleaned if ch not in rules.encoder)
            if self.on_unknown == "drop":
                body = "".join(ch for ch in cleaned if ch in rules.encoder)
            body = body.strip()
        ids: list[int] = []
        produced = 0
        for piece, is_added in rules.split(body):
            if is_added:
                ids.append(rules.added_ids[piece])
                produced += 1
                continue
            chunk: list[int] = []
            for ch in piece:
                token_id = rules.char_id(ch)
                if token_id is None:
                    unknown.setdefault(ch, None)
                    if self.on_unknown != "unk" or rules.unk_id is None:
                        continue
                    token_id = rules.unk_id
                chunk.append(token_id)
            if not chunk:
                continue
            produced += len(chunk)
            # Blanks are interleaved per piece: an added token gets none around it.
            ids.extend(intersperse(chunk, self.blank_id) if self.add_blank else chunk)
        listed = list(unknown)
        if listed and self.on_unknown == "error":
            self._raise_unknown(listed, cleaned)
        if not produced:
            self._raise_empty(text, cleaned, listed)
        return EncodedText(token_ids=tuple(ids), cleaned=cleaned, unknown=tuple(listed))

    def decode(self, token_ids: Sequence[int], *, skip_blanks: bool = False) -> str:
        """Join the symbols of ``token_ids``; ``skip_blanks`` drops every ``blank_id``."""
        parts: list[str] = []
        for token_id in token_ids:
            if not 0 <= token_id < len(self._symbols):
                raise InvalidInputError(f"token id {token_id} is outside 0..{len(self._symbols) - 1}")
            if skip_blanks and token_id == self.blank_id:
                continue
            if not self._symbols[token_id]:
                raise InvalidInputError(f"token id {token_id} is not in the vocabulary of {self.name}")
            parts.append(self._symbols[token_id])
        return "".join(parts)

    @classmethod
    def original_vits(
        cls, *, cleaners: Sequence[str] = ("english_cleaners2",), add_blank: bool = True
    ) -> TextFrontend:
        """The frontend of the original VITS LJSpeech/VCTK checkpoints."""
        return cls(
            ORIGINAL_VITS_SYMBOLS,
            cleaners=cleaners,
            add_blank=add_blank,
            allow_duplicates=True,
            name=ORIGINAL_VITS_NAME,
        )

    @classmethod
    def from_symbol_file(cls, path: str | os.PathLike[str], **kwargs: Any) -> TextFrontend:
        """Read one symbol per line (id = line index, MMS ``vocab.txt`` style).

        Only the line break is removed, so a line holding a single space is the space symbol.
        A blank line other than the final newline is a ``SpecError``.
        """
        source = Path(path)
        with open(source, encoding="utf-8", newline="") as handle:
            content = handle.read()
        lines = content.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        symbols = [line[:-1] if line.endswith("\r") else line for line in lines]
        for number, symbol in enumerate(symbols, start=1):
            if symbol == "":
                raise SpecError(f"{source}: line {number} is empty; every line must hold one symbol")
        kwargs.setdefault("name", str(source))
        return cls(symbols, **kwargs)

    @classmethod
    def from_transformers_dict(
        cls,
        vocab: Mapping[str, Any],
        tokenizer_config: Mapping[str, Any] | None = None,
        *,
        on_unknown: str | None = None,
        name: str | None = None,
    ) -> TextFrontend:
        """A frontend that encodes as ``transformers.VitsTokenizer`` does with these file contents.

        ``tokenizer_config`` missing keys take VitsTokenizer's defaults. ``on_unknown`` defaults to
        VitsTokenizer's own treatment of out-of-vocabulary characters: "drop" when it deletes them
        (normalize without phonemize), else "unk" (its ``unk_token`` id); both list them in
        ``EncodedText.unknown``. "error" raises ``InvalidInputError`` instead.
        """
        settings = _parse_tokenizer_config(vocab, {} if tokenizer_config is None else tokenizer_config)
        rules = _VitsTokenizerRules(settings)
        mode = rules.default_on_unknown if on_unknown is None else on_unknown
        if mode not in TRANSFORMERS_ON_UNKNOWN_MODES:
            raise SpecError(f"on_unknown must be one of {TRANSFORMERS_ON_UNKNOWN_MODES}, got {mode!r}")
        if mode == "unk" and rules.unk_id is None:
            raise SpecError("on_unknown='unk' needs an unk_token, and tokenizer_config.json sets none")
        frontend = cls.__new__(cls)
        frontend._symbols = rules.table()
        frontend._lookup = {**rules.encoder, **rules.added_ids}
        frontend._max_len = max(len(symbol) for symbol in frontend._symbols)
        frontend.cleaners = ()
        frontend.add_blank = settings.add_blank
        frontend.blank_id = rules.blank_id if rules.blank_id is not None else 0
        frontend.on_unknown = mode
        frontend.allow_duplicates = True
        frontend.name = name if name is not None else f"transformers vocabulary of {len(settings.vocab)} symbols"
        frontend._vits = rules
        return frontend

    @classmethod
    def from_transformers_files(
        cls,
        vocab_json: str | os.PathLike[str],
        tokenizer_config_json: str | os.PathLike[str] | None = None,
        *,
        on_unknown: str | None = None,
    ) -> TextFrontend:
        """Read a Hugging Face VITS/MMS-TTS ``vocab.json`` and ``tokenizer_config.json``.

        Without ``tokenizer_config_json`` the ``tokenizer_config.json`` beside ``vocab_json`` is
        used if present, else VitsTokenizer's defaults (as ``from_pretrained`` would).
        """
        vocab_path = Path(vocab_json)
        config_path = (
            Path(tokenizer_config_json)
            if tokenizer_config_json is not None
            else vocab_path.with_name("tokenizer_config.json")
        )
        config = (
            _read_json_object(config_path)
            if tokenizer_config_json is not None or config_path.is_file()
            else {}
        )
        return cls.from_transformers_dict(
            _read_json_object(vocab_path), config, on_unknown=on_unknown, name=str(vocab_path)
        )

    def _table_as_vits_tokenizer(self) -> VitsTokenizerSettings:
        """The closest VitsTokenizer settings for a symbol-table frontend; ``SpecError`` if none fits."""
        cleaners = tuple(self.cleaners)
        if cleaners == ():
            normalize = phonemize = False
        elif cleaners == ("basic_cleaners",):
            normalize, phonemize = True, False
        elif cleaners == ("english_cleaners2",):
            normalize = phonemize = True
        else:
            raise SpecError(
                f"transformers' VitsTokenizer cannot express the cleaners {list(cleaners)} of {self.name}: "
                "it can only lowercase (normalize) and phonemize US English with stress and punctuation "
                "(phonemize). Exportable cleaners: [], ['basic_cleaners'], ['english_cleaners2']"
            )
        long_symbols = [symbol for symbol in dict.fromkeys(self._symbols) if len(symbol) > 1]
        if long_symbols:
            raise SpecError(
                f"VitsTokenizer reads text one character at a time, so the multi-character symbol(s) "
                f"{', '.join(map(repr, long_symbols[:_MAX_LISTED_UNKNOWN]))} of {self.name} cannot be exported"
            )
        if self.add_blank and self.blank_id != 0:
            raise SpecError(f"VitsTokenizer always uses id 0 as the blank; {self.name} uses blank_id {self.blank_id}")
        # basic_cleaners lowercases everything, so upper-case symbols can never be looked up; leaving
        # them out of vocab.json lets VitsTokenizer's normalisation lowercase them too.
        vocab = {
            symbol: token_id
            for symbol, token_id in self._lookup.items()
            if not (cleaners == ("basic_cleaners",) and symbol.lower() != symbol)
        }
        if self.add_blank and 0 not in vocab.values():
            raise SpecError(f"the blank (id 0, {self._symbols[0]!r}) of {self.name} cannot be written to vocab.json")
        return VitsTokenizerSettings(
            vocab=tuple(vocab.items()),
            add_blank=self.add_blank,
            normalize=normalize,
            phonemize=phonemize,
            special_tokens=(("unk_token", _EXPORT_UNK_TOKEN), ("pad_token", None)),
            added_tokens=((len(self._symbols), _EXPORT_UNK_TOKEN),),
        )

    def to_transformers_files(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Write ``vocab.json`` and ``tokenizer_config.json`` for ``transformers.VitsTokenizer``.

        A transformers frontend is written back as read. A symbol-table frontend maps to:
        no cleaners -> normalize/phonemize off; ``basic_cleaners`` -> normalize (VitsTokenizer does not
        collapse runs of whitespace, strips the ends and deletes unknown characters);
        ``english_cleaners2`` -> phonemize (espeak en-us with stress and punctuation, but without
        ASCII transliteration or abbreviation expansion). Other cleaners, multi-character symbols or a
        blank other than id 0 raise ``SpecError``. Unknown characters map to an ``<unk>`` id one past
        the table. Each file is written atomically; returns the two paths.
        """
        settings = self._vits.settings if self._vits is not None else self._table_as_vits_tokenizer()
        folder = Path(directory)
        contents = {
            "vocab.json": dict(settings.vocab),
            "tokenizer_config.json": settings.tokenizer_config(),
        }
        written: list[Path] = []
        for filename, content in contents.items():
            target = folder / filename
            with atomic_write(target) as temp:
                temp.write_text(json.dumps(content, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            written.append(target)
        return written

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable description that ``from_dict`` restores."""
        if self._vits is not None:
            settings = self._vits.settings
            return {
                "kind": "transformers",
                "vocab": [[symbol, token_id] for symbol, token_id in settings.vocab],
                "add_blank": settings.add_blank,
                "normalize": settings.normalize,
                "phonemize": settings.phonemize,
                "is_uroman": settings.is_uroman,
                "language": settings.language,
                "special_tokens": dict(settings.special_tokens),
                "added_tokens": [[token_id, content] for token_id, content in settings.added_tokens],
                "split_special_tokens": settings.split_special_tokens,
                "on_unknown": self.on_unknown,
                "name": self.name,
            }
        return {
            "symbols": list(self._symbols),
            "cleaners": list(self.cleaners),
            "add_blank": self.add_blank,
            "blank_id": self.blank_id,
            "on_unknown": self.on_unknown,
            "allow_duplicates": self.allow_duplicates,
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TextFrontend:
        """Rebuild a frontend from ``to_dict`` output; unknown or missing fields are a ``SpecError``."""
        if not isinstance(data, Mapping):
            raise SpecError(f"a text frontend must be a mapping, got {type(data).__name__}")
        kind = data.get("kind", "symbols")
        if kind == "transformers":
            return cls._from_transformers_dict_form(data)
        if kind != "symbols":
            raise SpecError(f"unknown text frontend kind {kind!r}; known kinds: 'symbols', 'transformers'")
        data = {key: value for key, value in data.items() if key != "kind"}
        allowed = {"symbols", "cleaners", "add_blank", "blank_id", "on_unknown", "allow_duplicates", "name"}
        extra = sorted(set(data) - allowed)
        if extra:
            raise SpecError(f"unknown text frontend field(s): {', '.join(map(str, extra))}")
        if "symbols" not in data:
            raise SpecError("a text frontend needs a 'symbols' list")
        symbols = data["symbols"]
        if isinstance(symbols, str) or not isinstance(symbols, Sequence):
            raise SpecError(f"'symbols' must be a list of strings, got {type(symbols).__name__}")
        cleaners = data.get("cleaners", [])
        if isinstance(cleaners, str) or not isinstance(cleaners, Sequence):
            raise SpecError(f"'cleaners' must be a list of names, got {type(cleaners).__name__}")
        options = {key: data[key] for key in allowed - {"symbols", "cleaners"} if key in data}
        return cls(symbols, cleaners=cleaners, **options)

    @classmethod
    def _from_transformers_dict_form(cls, data: Mapping[str, Any]) -> TextFrontend:
        """Rebuild a transformers frontend from its ``to_dict`` output."""
        flags = ("add_blank", "normalize", "phonemize", "is_uroman", "language", "split_special_tokens")
        allowed = {"kind", "vocab", "special_tokens", "added_tokens", "on_unknown", "name", *flags}
        extra = sorted(set(data) - allowed)
        if extra:
            raise SpecError(f"unknown transformers text frontend field(s): {', '.join(map(str, extra))}")
        pairs = data.get("vocab")
        if isinstance(pairs, str) or not isinstance(pairs, Sequence) or not pairs:
            raise SpecError("a transformers text frontend needs a 'vocab' list of [symbol, id] pairs")
        vocab: dict[str, Any] = {}
        for pair in pairs:
            if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
                raise SpecError(f"'vocab' entries must be [symbol, id] pairs, got {pair!r}")
            if not isinstance(pair[0], str):
                raise SpecError(f"'vocab' symbols must be strings, got {pair[0]!r}")
            if pair[0] in vocab:
                raise SpecError(f"'vocab' lists {pair[0]!r} twice")
            vocab[pair[0]] = pair[1]
        special = data.get("special_tokens", {})
        if not isinstance(special, Mapping) or not set(special) <= set(_SPECIAL_TOKEN_KEYS):
            raise SpecError(f"'special_tokens' must map names among {_SPECIAL_TOKEN_KEYS} to tokens")
        added = data.get("added_tokens", [])
        if isinstance(added, str) or not isinstance(added, Sequence):
            raise SpecError("'added_tokens' must be a list of [id, token] pairs")
        decoder: dict[str, Any] = {}
        for pair in added:
            if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
                raise SpecError(f"'added_tokens' entries must be [id, token] pairs, got {pair!r}")
            decoder[str(pair[0])] = pair[1]
        config: dict[str, Any] = {key: data[key] for key in flags if key in data}
        config.update(special)
        config["added_tokens_decoder"] = decoder
        return cls.from_transformers_dict(vocab, config, on_unknown=data.get("on_unknown"), name=data.get("name"))
