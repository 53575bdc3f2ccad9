"""The stored forms of ``VitsTokenizerSettings``: its two JSON files, its ``to_dict`` form, a symbol table's export."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vits_adapters.io.atomic import atomic_write
from vits_adapters.errors import MAX_LISTED, SpecError
from vits_adapters.text.vits_tokenizer import VitsTokenizerSettings

# The order in which PreTrainedTokenizer registers named special tokens as added tokens.
_SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
_SPECIAL_TOKEN_DEFAULTS = {"unk_token": "<unk>", "pad_token": "<pad>"}
_FLAG_DEFAULTS = {"add_blank": True, "normalize": True, "phonemize": True, "is_uroman": False}
_DICT_FLAGS = ("add_blank", "normalize", "phonemize", "is_uroman", "language", "split_special_tokens")
_MAX_TOKEN_ID = 1_000_000
_EXPORT_UNK_TOKEN = "<unk>"


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


def parse_tokenizer_settings(vocab: Any, *, config: Any) -> VitsTokenizerSettings:
    """Settings from ``vocab.json`` and ``tokenizer_config.json`` contents, with VitsTokenizer's defaults.

    Raises:
        SpecError: a malformed vocabulary, or a config field VitsTokenizer would reject or we cannot honour.
    """
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


def read_tokenizer_files(
    vocab_json: str | os.PathLike[str], *, tokenizer_config_json: str | os.PathLike[str] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``vocab.json`` and ``tokenizer_config.json`` contents, as ``from_pretrained`` would find them.

    Without ``tokenizer_config_json`` the ``tokenizer_config.json`` beside ``vocab_json`` is read if
    present, else the config is empty (VitsTokenizer's defaults).

    Raises:
        SpecError: a file is not a JSON object or repeats a key.
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
    return _read_json_object(vocab_path), config


def write_tokenizer_files(settings: VitsTokenizerSettings, *, directory: str | os.PathLike[str]) -> list[Path]:
    """Write ``vocab.json`` and ``tokenizer_config.json`` into ``directory``, each atomically.

    Returns:
        The two paths written.
    """
    folder = Path(directory)
    contents = {"vocab.json": dict(settings.vocab), "tokenizer_config.json": settings.tokenizer_config()}
    written: list[Path] = []
    for filename, content in contents.items():
        target = folder / filename
        with atomic_write(target) as temp:
            temp.write_text(json.dumps(content, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(target)
    return written


def settings_to_dict(settings: VitsTokenizerSettings) -> dict[str, Any]:
    """The JSON-serializable fields that ``settings_from_dict`` restores."""
    return {
        "vocab": [[symbol, token_id] for symbol, token_id in settings.vocab],
        "add_blank": settings.add_blank,
        "normalize": settings.normalize,
        "phonemize": settings.phonemize,
        "is_uroman": settings.is_uroman,
        "language": settings.language,
        "special_tokens": dict(settings.special_tokens),
        "added_tokens": [[token_id, content] for token_id, content in settings.added_tokens],
        "split_special_tokens": settings.split_special_tokens,
    }


def settings_from_dict(data: Mapping[str, Any]) -> VitsTokenizerSettings:
    """Rebuild settings from ``settings_to_dict`` output, validated as the files would be.

    Raises:
        SpecError: an unknown field, or a field ``parse_tokenizer_settings`` rejects.
    """
    extra = sorted(set(data) - {"vocab", "special_tokens", "added_tokens", *_DICT_FLAGS})
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
    config: dict[str, Any] = {key: data[key] for key in _DICT_FLAGS if key in data}
    config.update(special)
    config["added_tokens_decoder"] = decoder
    return parse_tokenizer_settings(vocab, config=config)


def settings_for_symbol_table(
    symbols: Sequence[str], *, cleaners: Sequence[str], add_blank: bool, blank_id: int, name: str
) -> VitsTokenizerSettings:
    """The VitsTokenizer settings closest to a symbol table with these cleaners.

    No cleaners -> normalize/phonemize off; ``basic_cleaners`` -> normalize (VitsTokenizer does not
    collapse runs of whitespace, strips the ends and deletes unknown characters);
    ``english_cleaners2`` -> phonemize (espeak en-us with stress and punctuation, but without ASCII
    transliteration or abbreviation expansion). Unknown characters map to an ``<unk>`` id one past
    the table.

    Raises:
        SpecError: other cleaners, multi-character symbols, or a blank other than id 0.
    """
    cleaners = tuple(cleaners)
    if cleaners == ():
        normalize = phonemize = False
    elif cleaners == ("basic_cleaners",):
        normalize, phonemize = True, False
    elif cleaners == ("english_cleaners2",):
        normalize = phonemize = True
    else:
        raise SpecError(
            f"transformers' VitsTokenizer cannot express the cleaners {list(cleaners)} of {name}: "
            "it can only lowercase (normalize) and phonemize US English with stress and punctuation "
            "(phonemize). Exportable cleaners: [], ['basic_cleaners'], ['english_cleaners2']"
        )
    long_symbols = [symbol for symbol in dict.fromkeys(symbols) if len(symbol) > 1]
    if long_symbols:
        raise SpecError(
            f"VitsTokenizer reads text one character at a time, so the multi-character symbol(s) "
            f"{', '.join(map(repr, long_symbols[:MAX_LISTED]))} of {name} cannot be exported"
        )
    if add_blank and blank_id != 0:
        raise SpecError(f"VitsTokenizer always uses id 0 as the blank; {name} uses blank_id {blank_id}")
    # basic_cleaners lowercases everything, so upper-case symbols can never be looked up; leaving
    # them out of vocab.json lets VitsTokenizer's normalisation lowercase them too.
    lookup = {symbol: token_id for token_id, symbol in enumerate(symbols)}
    vocab = {
        symbol: token_id
        for symbol, token_id in lookup.items()
        if not (cleaners == ("basic_cleaners",) and symbol.lower() != symbol)
    }
    if add_blank and 0 not in vocab.values():
        raise SpecError(f"the blank (id 0, {symbols[0]!r}) of {name} cannot be written to vocab.json")
    return VitsTokenizerSettings(
        vocab=tuple(vocab.items()),
        add_blank=add_blank,
        normalize=normalize,
        phonemize=phonemize,
        special_tokens=(("unk_token", _EXPORT_UNK_TOKEN), ("pad_token", None)),
        added_tokens=((len(symbols), _EXPORT_UNK_TOKEN),),
    )
