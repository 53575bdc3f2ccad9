"""Map text to the token ids a VITS checkpoint was trained on, through one ``TextFrontend``: clean, encode, decode.

The constructors and writers for each checkpoint family's text settings are inherited from ``text_formats``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Cleaner, symbol-table and VitsTokenizer names are re-exported for existing importers.
from vits_adapters.text.cleaners import (
    CLEANERS,
    PhonemizerUnavailableError,
    basic_cleaners,
    collapse_whitespace,
    convert_to_ascii,
    english_cleaners,
    english_cleaners2,
    expand_abbreviations,
    transliteration_cleaners,
)
from vits_adapters.text.coqui_characters import CoquiCharacterRules
from vits_adapters.errors import InvalidInputError, SpecError, format_chars
from vits_adapters.text.piper_phonemes import PiperPhonemeRules
from vits_adapters.text.symbols import ORIGINAL_VITS_NAME, ORIGINAL_VITS_SYMBOLS
from vits_adapters.text.frontend_formats import TextFrontendFormats
from vits_adapters.text.vits_tokenizer import RomanizationRequiredError, VitsTokenizerRules, VitsTokenizerSettings

__all__ = [
    "CLEANERS",
    "ON_UNKNOWN_MODES",
    "ORIGINAL_VITS_NAME",
    "ORIGINAL_VITS_SYMBOLS",
    "TRANSFORMERS_ON_UNKNOWN_MODES",
    "EncodedText",
    "PhonemizerUnavailableError",
    "RomanizationRequiredError",
    "TextFrontend",
    "VitsTokenizerSettings",
    "basic_cleaners",
    "collapse_whitespace",
    "convert_to_ascii",
    "english_cleaners",
    "english_cleaners2",
    "expand_abbreviations",
    "intersperse",
    "transliteration_cleaners",
]

ON_UNKNOWN_MODES = ("error", "drop")
TRANSFORMERS_ON_UNKNOWN_MODES = ("error", "drop", "unk")


@dataclass(frozen=True)
class EncodedText:
    """Token ids for one text, the text after cleaners, and the characters the table lacks."""

    token_ids: tuple[int, ...]
    cleaned: str
    unknown: tuple[str, ...]


def intersperse(token_ids: Sequence[int], blank_id: int) -> list[int]:
    """``[blank, t1, blank, t2, ..., tn, blank]``."""
    result = [blank_id] * (2 * len(token_ids) + 1)
    result[1::2] = token_ids
    return result


class TextFrontend(TextFrontendFormats):
    """Cleaners plus a symbol table: maps text to the token ids of one checkpoint.

    Build one for a checkpoint family with the inherited ``original_vits``, ``from_symbol_file``,
    ``from_transformers_dict``/``_files``, ``from_piper_config``, ``from_coqui_config`` or ``from_dict``.
    """

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
        self._vits: VitsTokenizerRules | None = None
        self._ecosystem: PiperPhonemeRules | CoquiCharacterRules | None = None

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbol table; index = token id (``""`` for ids a transformers vocabulary leaves unused)."""
        return self._symbols

    @property
    def kind(self) -> str:
        """``"transformers"`` (VitsTokenizer vocabulary), ``"piper"``, ``"coqui"``, else ``"symbols"``."""
        if self._ecosystem is not None:
            return self._ecosystem.kind
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
        if self._ecosystem is not None:
            return self._ecosystem.clean(text)
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
            ids, cleaned, unknown = self._vits.encode(text, name=self.name, on_unknown=self.on_unknown)
        elif self._ecosystem is not None:
            ids, cleaned, unknown = self._ecosystem.encode(text)
        else:
            cleaned = self.clean(text)
            ids, unknown = self._lookup_symbols(cleaned)
        if unknown and self.on_unknown == "error":
            self._raise_unknown(unknown, cleaned)
        if not ids:
            self._raise_empty(text, cleaned, unknown)
        # VitsTokenizer, Piper and Coqui rules have already placed their blanks.
        if self.add_blank and self._vits is None and self._ecosystem is None:
            ids = intersperse(ids, self.blank_id)
        return EncodedText(token_ids=tuple(ids), cleaned=cleaned, unknown=tuple(unknown))

    def _raise_unknown(self, unknown: Sequence[str], cleaned: str) -> None:
        """``InvalidInputError`` listing the characters the table lacks."""
        listed = format_chars(unknown)
        raise InvalidInputError(
            f"{len(unknown)} character(s) not in the symbol table {self.name}: {listed}. "
            f"Cleaned text: {cleaned!r}. Pass on_unknown='drop' to skip them."
        )

    def _raise_empty(self, text: str, cleaned: str, unknown: Sequence[str]) -> None:
        """``InvalidInputError`` for text that yields no token at all."""
        detail = f"; unknown characters: {format_chars(unknown, len(unknown))}" if unknown else ""
        raise InvalidInputError(
            f"no known symbols in the text (symbol table {self.name}); "
            f"input {text!r} cleaned to {cleaned!r}{detail}; nothing to synthesize: write the text in the "
            "voice's alphabet, or pass token_ids=[...]"
        )

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
    def _from_vits_settings(
        cls, settings: VitsTokenizerSettings, *, on_unknown: str | None, name: str | None
    ) -> TextFrontend:
        """A transformers frontend for parsed settings; ``on_unknown=None`` takes VitsTokenizer's default."""
        rules = VitsTokenizerRules(settings)
        mode = rules.default_on_unknown if on_unknown is None else on_unknown
        if mode not in TRANSFORMERS_ON_UNKNOWN_MODES:
            raise SpecError(f"on_unknown must be one of {TRANSFORMERS_ON_UNKNOWN_MODES}, got {mode!r}")
        if mode == "unk" and rules.unk_id is None:
            raise SpecError("on_unknown='unk' needs an unk_token, and tokenizer_config.json sets none")
        frontend = cls.__new__(cls)
        frontend._symbols = rules.table()
        frontend.cleaners = ()
        frontend.add_blank = settings.add_blank
        frontend.blank_id = rules.blank_id if rules.blank_id is not None else 0
        frontend.on_unknown = mode
        frontend.allow_duplicates = True
        frontend.name = name if name is not None else f"transformers vocabulary of {len(settings.vocab)} symbols"
        frontend._vits = rules
        frontend._ecosystem = None
        return frontend

    @classmethod
    def _from_ecosystem(
        cls, rules: PiperPhonemeRules | CoquiCharacterRules, *, on_unknown: str, name: str | None
    ) -> TextFrontend:
        """A frontend whose ids come from Piper or Coqui rules."""
        if on_unknown not in ON_UNKNOWN_MODES:
            raise SpecError(f"on_unknown must be one of {ON_UNKNOWN_MODES}, got {on_unknown!r}")
        frontend = cls.__new__(cls)
        frontend._symbols = rules.table()
        frontend.cleaners = ()
        frontend.add_blank = rules.add_blank
        frontend.blank_id = rules.blank_id if rules.blank_id is not None else 0
        frontend.on_unknown = on_unknown
        frontend.allow_duplicates = True
        frontend.name = name if name is not None else rules.describe()
        frontend._vits = None
        frontend._ecosystem = rules
        return frontend
