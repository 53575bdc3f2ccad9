"""Piper's phoneme-id encoding (``phoneme_id_map`` with BOS/PAD/EOS) for phoneme strings."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from vits_adapters.errors import SpecError

__all__ = ["PIPER_BOS", "PIPER_EOS", "PIPER_PAD", "PiperPhonemeRules", "split_piper_phonemes"]

PIPER_PAD = "_"
PIPER_BOS = "^"
PIPER_EOS = "$"
# Phoneme types whose ids come from Piper's generic ``phonemes_to_ids`` over one-codepoint phonemes.
SUPPORTED_PHONEME_TYPES = ("espeak", "text")


def split_piper_phonemes(phonemes: str, vowel_clusters: Sequence[tuple[str, ...]] = ()) -> list[str]:
    """Split as Piper does: NFD codepoints, then adjacent known vowel clusters merged (longest first)."""
    parts = list(unicodedata.normalize("NFD", phonemes))
    if not vowel_clusters:
        return parts
    clusters = set(vowel_clusters)
    longest = max(len(cluster) for cluster in clusters)
    merged: list[str] = []
    position = 0
    while position < len(parts):
        for length in range(min(longest, len(parts) - position), 1, -1):
            candidate = tuple(parts[position : position + length])
            if candidate in clusters:
                merged.append("".join(candidate))
                position += length
                break
        else:
            merged.append(parts[position])
            position += 1
    return merged


def _parse_id_map(raw: Any) -> dict[str, tuple[int, ...]]:
    """Validate ``phoneme_id_map``: non-empty string keys, each a non-empty list of ids >= 0."""
    if not isinstance(raw, Mapping) or not raw:
        raise SpecError("a Piper config needs a non-empty 'phoneme_id_map' mapping")
    id_map: dict[str, tuple[int, ...]] = {}
    for symbol, ids in raw.items():
        if not isinstance(symbol, str) or not symbol:
            raise SpecError(f"phoneme_id_map keys must be non-empty strings, got {symbol!r}")
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence) or not ids:
            raise SpecError(f"phoneme_id_map[{symbol!r}] must be a non-empty list of ids, got {ids!r}")
        for token_id in ids:
            if isinstance(token_id, bool) or not isinstance(token_id, int) or token_id < 0:
                raise SpecError(f"phoneme_id_map[{symbol!r}] holds {token_id!r}, not an id >= 0")
        id_map[symbol] = tuple(ids)
    missing = [symbol for symbol in (PIPER_BOS, PIPER_PAD, PIPER_EOS) if symbol not in id_map]
    if missing:
        raise SpecError(f"phoneme_id_map lacks Piper's special symbol(s) {', '.join(map(repr, missing))}")
    return id_map


def _parse_clusters(raw: Any, id_map: Mapping[str, Sequence[int]]) -> tuple[tuple[str, ...], ...]:
    """Validate ``vowel_clusters``: lists of 2+ phonemes whose concatenation is in the id map."""
    if raw is None:
        return ()
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence):
        raise SpecError(f"'vowel_clusters' must be a list of phoneme lists, got {type(raw).__name__}")
    clusters: list[tuple[str, ...]] = []
    for cluster in raw:
        if isinstance(cluster, (str, bytes)) or not isinstance(cluster, Sequence) or len(cluster) < 2:
            raise SpecError(f"each vowel cluster must list at least two phonemes, got {cluster!r}")
        if not all(isinstance(part, str) and part for part in cluster):
            raise SpecError(f"vowel cluster {cluster!r} must hold non-empty strings")
        if "".join(cluster) not in id_map:
            raise SpecError(f"vowel cluster {''.join(cluster)!r} is not in phoneme_id_map")
        clusters.append(tuple(cluster))
    return tuple(sorted(set(clusters)))


class PiperPhonemeRules:
    """The id layout of ``piper.phoneme_ids.phonemes_to_ids`` for one voice config.

    ``[*^, *_, (*p, *_) for each known phoneme p, *$]``; unknown phonemes are dropped.
    Input is always a phoneme string (espeak IPA for ``phoneme_type`` "espeak", raw text for
    "text"): raw text is not phonemized here.
    """

    kind = "piper"
    add_blank = True  # PAD follows BOS and every phoneme

    def __init__(self, config: Mapping[str, Any]) -> None:
        """Read ``phoneme_id_map``, ``phoneme_type``, ``espeak.voice`` and ``vowel_clusters``."""
        if not isinstance(config, Mapping):
            raise SpecError(f"a Piper config must be a mapping, got {type(config).__name__}")
        self.id_map = _parse_id_map(config.get("phoneme_id_map"))
        phoneme_type = config.get("phoneme_type", "espeak")
        if phoneme_type not in SUPPORTED_PHONEME_TYPES:
            raise SpecError(
                f"Piper phoneme_type {phoneme_type!r} is not supported; supported: "
                f"{', '.join(SUPPORTED_PHONEME_TYPES)}"
            )
        self.phoneme_type = str(phoneme_type)
        espeak = config.get("espeak", {})
        if not isinstance(espeak, Mapping):
            raise SpecError(f"Piper 'espeak' must be a mapping, got {type(espeak).__name__}")
        voice = espeak.get("voice")
        if voice is not None and not isinstance(voice, str):
            raise SpecError(f"Piper espeak.voice must be a string, got {voice!r}")
        self.espeak_voice = voice
        clusters = _parse_clusters(config.get("vowel_clusters"), self.id_map)
        # Piper merges clusters only for espeak phonemes; "text" voices use plain codepoints.
        self.vowel_clusters = clusters if self.phoneme_type == "espeak" else ()
        self._config_clusters = clusters
        self.blank_id: int | None = self.id_map[PIPER_PAD][0]

    def describe(self) -> str:
        """A default name for error messages."""
        voice = f" ({self.espeak_voice})" if self.espeak_voice else ""
        return f"Piper phoneme_id_map of {len(self.id_map)} phonemes{voice}"

    def table(self) -> tuple[str, ...]:
        """Symbols by id for single-id entries (first key wins); ``""`` for ids no key owns alone."""
        size = max(max(ids) for ids in self.id_map.values()) + 1
        table = [""] * size
        for symbol, ids in self.id_map.items():
            if len(ids) == 1 and not table[ids[0]]:
                table[ids[0]] = symbol
        return tuple(table)

    def clean(self, phonemes: str) -> str:
        """Piper's split of ``phonemes`` joined back (NFD)."""
        return "".join(split_piper_phonemes(phonemes, self.vowel_clusters))

    def encode(self, phonemes: str) -> tuple[list[int], str, list[str]]:
        """Ids as Piper makes them, the NFD phonemes, and unknown phonemes; ids are ``[]`` if none is known."""
        parts = split_piper_phonemes(phonemes, self.vowel_clusters)
        pad = self.id_map[PIPER_PAD]
        ids: list[int] = [*self.id_map[PIPER_BOS], *pad]
        unknown: dict[str, None] = {}
        known = 0
        for part in parts:
            part_ids = self.id_map.get(part)
            if part_ids is None:
                unknown.setdefault(part, None)
                continue
            ids.extend(part_ids)
            ids.extend(pad)
            known += 1
        ids.extend(self.id_map[PIPER_EOS])
        return (ids if known else []), "".join(parts), list(unknown)

    def to_config(self) -> dict[str, Any]:
        """The Piper config subset this was built from (JSON-serializable)."""
        config: dict[str, Any] = {
            "phoneme_id_map": {symbol: list(ids) for symbol, ids in self.id_map.items()},
            "phoneme_type": self.phoneme_type,
            "espeak": {"voice": self.espeak_voice},
        }
        if self._config_clusters:
            config["vowel_clusters"] = [list(cluster) for cluster in self._config_clusters]
        return config
