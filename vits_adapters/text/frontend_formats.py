"""Build a ``TextFrontend`` from each checkpoint family's text settings, and write one back as files or a dict.

Original VITS symbols, a ``vocab.txt`` symbol file, transformers ``VitsTokenizer`` files, Piper and Coqui configs,
and the ``to_dict``/``from_dict`` form stored beside converted weights. Cleaning and encoding live in ``text``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vits_adapters.text.coqui_characters import CoquiCharacterRules
from vits_adapters.errors import SpecError
from vits_adapters.text.piper_phonemes import PiperPhonemeRules
from vits_adapters.text.symbols import ORIGINAL_VITS_NAME, ORIGINAL_VITS_SYMBOLS
from vits_adapters.text.vits_tokenizer_files import (
    parse_tokenizer_settings,
    read_tokenizer_files,
    settings_for_symbol_table,
    settings_from_dict,
    settings_to_dict,
    write_tokenizer_files,
)

if TYPE_CHECKING:
    from vits_adapters.text.frontend import TextFrontend

# Frontend kinds whose rules mirror another ecosystem's tokenizer, built from its config dict.
_ECOSYSTEMS: dict[str, type[PiperPhonemeRules] | type[CoquiCharacterRules]] = {
    "piper": PiperPhonemeRules, "coqui": CoquiCharacterRules
}


class TextFrontendFormats:
    """The per-format constructors and writers of ``TextFrontend``, which inherits them from this class."""

    @classmethod
    def original_vits(
        cls: type[TextFrontend], *, cleaners: Sequence[str] = ("english_cleaners2",), add_blank: bool = True
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
    def from_symbol_file(cls: type[TextFrontend], path: str | os.PathLike[str], **kwargs: Any) -> TextFrontend:
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
        cls: type[TextFrontend],
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
        settings = parse_tokenizer_settings(vocab, config={} if tokenizer_config is None else tokenizer_config)
        return cls._from_vits_settings(settings, on_unknown=on_unknown, name=name)

    @classmethod
    def from_piper_config(
        cls: type[TextFrontend], config: Mapping[str, Any], *, on_unknown: str = "drop", name: str | None = None
    ) -> TextFrontend:
        """Piper's ids for a voice config (``.onnx.json``); ``encode`` takes PHONEMES, see ``PiperPhonemeRules``.

        Raw text is not phonemized (except for ``phoneme_type`` "text"); phonemes missing from the
        map are dropped as Piper does and listed in ``unknown`` (``on_unknown="error"`` raises).
        """
        return cls._from_ecosystem(PiperPhonemeRules(config), on_unknown=on_unknown, name=name)

    @classmethod
    def from_coqui_config(
        cls: type[TextFrontend], config: Mapping[str, Any], *, on_unknown: str = "drop", name: str | None = None
    ) -> TextFrontend:
        """Coqui's ``TTSTokenizer.text_to_ids`` for a config dict, see ``CoquiCharacterRules``.

        Grapheme configs take text; ``use_phonemes`` configs take PHONEMES (nothing is phonemized).
        """
        return cls._from_ecosystem(CoquiCharacterRules(config), on_unknown=on_unknown, name=name)

    @classmethod
    def from_transformers_files(
        cls: type[TextFrontend],
        vocab_json: str | os.PathLike[str],
        tokenizer_config_json: str | os.PathLike[str] | None = None,
        *,
        on_unknown: str | None = None,
    ) -> TextFrontend:
        """Read a Hugging Face VITS/MMS-TTS ``vocab.json`` and ``tokenizer_config.json``.

        Without ``tokenizer_config_json`` the ``tokenizer_config.json`` beside ``vocab_json`` is
        used if present, else VitsTokenizer's defaults (as ``from_pretrained`` would).
        """
        vocab, config = read_tokenizer_files(vocab_json, tokenizer_config_json=tokenizer_config_json)
        return cls.from_transformers_dict(vocab, config, on_unknown=on_unknown, name=str(Path(vocab_json)))

    def to_transformers_files(self: TextFrontend, directory: str | os.PathLike[str]) -> list[Path]:
        """Write ``vocab.json`` and ``tokenizer_config.json`` for ``transformers.VitsTokenizer``.

        A transformers frontend is written back as read; a symbol-table frontend is mapped by
        ``settings_for_symbol_table`` (``SpecError`` when VitsTokenizer cannot express it).
        Each file is written atomically; returns the two paths.
        """
        if self._ecosystem is not None:
            raise SpecError(f"a {self._ecosystem.kind} frontend cannot be written as VitsTokenizer files")
        if self._vits is not None:
            settings = self._vits.settings
        else:
            settings = settings_for_symbol_table(
                self._symbols,
                cleaners=self.cleaners,
                add_blank=self.add_blank,
                blank_id=self.blank_id,
                name=self.name,
            )
        return write_tokenizer_files(settings, directory=directory)

    def to_dict(self: TextFrontend) -> dict[str, Any]:
        """A JSON-serializable description that ``from_dict`` restores."""
        if self._ecosystem is not None:
            rules = self._ecosystem
            return {"kind": rules.kind, "config": rules.to_config(), "on_unknown": self.on_unknown, "name": self.name}
        if self._vits is not None:
            return {
                "kind": "transformers",
                **settings_to_dict(self._vits.settings),
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
    def from_dict(cls: type[TextFrontend], data: Mapping[str, Any]) -> TextFrontend:
        """Rebuild a frontend from ``to_dict`` output; unknown or missing fields are a ``SpecError``."""
        if not isinstance(data, Mapping):
            raise SpecError(f"a text frontend must be a mapping, got {type(data).__name__}")
        kind = data.get("kind", "symbols")
        if kind == "transformers":
            fields = {key: value for key, value in data.items() if key not in ("kind", "on_unknown", "name")}
            settings = settings_from_dict(fields)
            return cls._from_vits_settings(settings, on_unknown=data.get("on_unknown"), name=data.get("name"))
        if kind in _ECOSYSTEMS:
            extra = sorted(set(data) - {"kind", "config", "on_unknown", "name"})
            if extra or "config" not in data:
                raise SpecError(f"a {kind} text frontend needs 'config'; unknown field(s): {extra}")
            rules = _ECOSYSTEMS[kind](data["config"])
            return cls._from_ecosystem(rules, on_unknown=data.get("on_unknown", "drop"), name=data.get("name"))
        if kind != "symbols":
            known = ", ".join(repr(k) for k in ("symbols", "transformers", *_ECOSYSTEMS))
            raise SpecError(f"unknown text frontend kind {kind!r}; known kinds: {known}")
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
