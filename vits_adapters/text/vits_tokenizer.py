"""Encode text as transformers' VitsTokenizer does, for the settings its files declare."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from vits_adapters.text.cleaners import collapse_whitespace, phonemize_english
from vits_adapters.errors import InvalidInputError, SpecError, format_chars

_ROMANIZE_HINT = (
    "Romanize it first (`pip install uroman`, then `uroman.Uroman().romanize_string(text)`), "
    "pass already-romanized text, or pass token_ids= directly."
)


class RomanizationRequiredError(InvalidInputError):
    """The text is in a script the voice cannot read: it expects romanized (``uroman``) input."""


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


def _is_letter(ch: str) -> bool:
    """A cased or uncased letter (modifier letters such as ``ˈ`` and ``ː`` excluded)."""
    return unicodedata.category(ch) in ("Lu", "Ll", "Lt", "Lo")


def _is_latin(ch: str) -> bool:
    """A Latin letter, or one whose compatibility decomposition is ASCII (``ª``, ``ﬁ``)."""
    return "LATIN" in unicodedata.name(ch, "") or unicodedata.normalize("NFKD", ch).isascii()


class VitsTokenizerRules:
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
            listed = format_chars(offending)
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
            text = collapse_whitespace(phonemize_english(text, punctuation_and_stress=True))
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

    def encode(self, text: str, *, name: str, on_unknown: str) -> tuple[list[int], str, list[str]]:
        """``VitsTokenizer(...)(text).input_ids``: the ids, the prepared text and the unknown characters.

        With VitsTokenizer's own ``on_unknown`` the ids are its ids: "drop" where it deletes unknown
        characters (normalize without phonemize), "unk" where it maps them to ``unk_token``.
        """
        cleaned = self.prepare(text, name)
        unknown: dict[str, None] = {}
        body = cleaned
        if self.settings.filters:
            unknown.update((ch, None) for ch in cleaned if ch not in self.encoder)
            if on_unknown == "drop":
                body = "".join(ch for ch in cleaned if ch in self.encoder)
            body = body.strip()
        ids: list[int] = []
        for piece, is_added in self.split(body):
            if is_added:
                ids.append(self.added_ids[piece])
                continue
            chunk: list[int] = []
            for ch in piece:
                token_id = self.char_id(ch)
                if token_id is None:
                    unknown.setdefault(ch, None)
                    if on_unknown != "unk" or self.unk_id is None:
                        continue
                    token_id = self.unk_id
                chunk.append(token_id)
            if not chunk:
                continue
            if self.settings.add_blank and self.blank_id is not None:
                # As _tokenize does, per piece: an added token gets no blanks around it.
                interspersed = [self.blank_id] * (2 * len(chunk) + 1)
                interspersed[1::2] = chunk
                chunk = interspersed
            ids.extend(chunk)
        return ids, cleaned, list(unknown)

    def table(self) -> tuple[str, ...]:
        """Symbol per id (added tokens over the vocabulary); ids nothing maps to hold ``""``."""
        size = max([*self.decoder, *self.added]) + 1
        return tuple(self.added.get(i, self.decoder.get(i, "")) for i in range(size))
