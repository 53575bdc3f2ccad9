"""The text cleaners of the original VITS release (jaywalnut310/vits text/cleaners.py), by name."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from vits_adapters.errors import InvalidInputError

_INSTALL_HINT = (
    "The checkpoint's cleaners need espeak phonemes. Install them with "
    "`apt-get install espeak-ng` and `pip install phonemizer`, or skip the cleaners: pass "
    "token_ids= directly, or pass already-phonemized text with cleaners=[]."
)


class PhonemizerUnavailableError(InvalidInputError):
    """A phonemizing cleaner was requested but phonemizer or the espeak-ng library is missing."""


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


def phonemize_english(text: str, *, punctuation_and_stress: bool) -> str:
    """Phonemize US English with espeak, as upstream's english cleaners do.

    Raises:
        PhonemizerUnavailableError: phonemizer or the espeak-ng library is missing.
    """
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
    return collapse_whitespace(phonemize_english(text, punctuation_and_stress=False))


def english_cleaners2(text: str) -> str:
    """ASCII, lowercase, expand abbreviations, espeak phonemes keeping punctuation and stress."""
    text = expand_abbreviations(convert_to_ascii(text).lower())
    return collapse_whitespace(phonemize_english(text, punctuation_and_stress=True))


CLEANERS: dict[str, Callable[[str], str]] = {
    "basic_cleaners": basic_cleaners,
    "transliteration_cleaners": transliteration_cleaners,
    "english_cleaners": english_cleaners,
    "english_cleaners2": english_cleaners2,
}
