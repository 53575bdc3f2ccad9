"""Turn text into the token ids a VITS checkpoint was trained on: cleaners, symbol lookup, blanks."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbol table; index = token id."""
        return self._symbols

    def __repr__(self) -> str:
        return (
            f"TextFrontend(name={self.name!r}, symbols={len(self._symbols)}, "
            f"cleaners={list(self.cleaners)}, add_blank={self.add_blank})"
        )

    def clean(self, text: str) -> str:
        """Run the cleaners in order."""
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
        cleaned = self.clean(text)
        ids, unknown = self._lookup_symbols(cleaned)
        if unknown and self.on_unknown == "error":
            listed = ", ".join(_describe_char(ch) for ch in unknown[:_MAX_LISTED_UNKNOWN])
            if len(unknown) > _MAX_LISTED_UNKNOWN:
                listed += f" (+{len(unknown) - _MAX_LISTED_UNKNOWN} more)"
            raise InvalidInputError(
                f"{len(unknown)} character(s) not in the symbol table {self.name}: {listed}. "
                f"Cleaned text: {cleaned!r}. Pass on_unknown='drop' to skip them."
            )
        if not ids:
            detail = f"; unknown characters: {', '.join(map(_describe_char, unknown))}" if unknown else ""
            raise InvalidInputError(
                f"no known symbols in the text (symbol table {self.name}); "
                f"input {text!r} cleaned to {cleaned!r}{detail}"
            )
        if self.add_blank:
            ids = intersperse(ids, self.blank_id)
        return EncodedText(token_ids=tuple(ids), cleaned=cleaned, unknown=tuple(unknown))

    def decode(self, token_ids: Sequence[int], *, skip_blanks: bool = False) -> str:
        """Join the symbols of ``token_ids``; ``skip_blanks`` drops every ``blank_id``."""
        parts: list[str] = []
        for token_id in token_ids:
            if not 0 <= token_id < len(self._symbols):
                raise InvalidInputError(f"token id {token_id} is outside 0..{len(self._symbols) - 1}")
            if skip_blanks and token_id == self.blank_id:
                continue
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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable description that ``from_dict`` restores."""
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
