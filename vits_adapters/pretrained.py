"""from_pretrained: resolve, read, detect, rename, size, build, convert and load, one named step each."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .io.checkpoint import read_checkpoint
from .mapping.config_info import ConfigInfo
from .formats.config_readers import read_config, read_json
from .mapping.convert import RenamedStateDict, check_unmapped, drop_targets, form_counts, reconcile_forms, rename_state_dict
from .mapping.detect import detect_format
from .errors import InvalidInputError, StateDictMismatchError
from .mapping.load import load_converted, refuse_non_finite
from .arch.meta_build import meta_device_without_init
from .arch.vits.generator import WEIGHT_NORM_MODES, VitsGenerator
from .io.page_release import release_pages
from .arch.precision import cast_decoder, resolve_dtype
from .mapping.registry import all_formats, get_format
from .report import LoadReport
from .hub.resolve import find_config, resolve_source
from .arch.vits.shape_inference import resolve_hparams
from .mapping.spec import UNDECLARED, FormatSpec, declared_dim
from .voice import Voice

logger = logging.getLogger(__name__)

LOAD_MODES = (*WEIGHT_NORM_MODES, "as-stored")


def _stored_pair_dims(renamed: RenamedStateDict, spec: FormatSpec) -> dict[str, int | None]:
    """``{layer: declared dim}`` of the layers the file stores as (g, v) pairs (undeclared ones fail later)."""
    rules = spec.weight_norm_rules
    return {
        re.escape(layer): dim
        for layer, form in renamed.forms.items()
        if form != "plain" and (dim := declared_dim(rules, layer)) is not UNDECLARED
    }


_POSTERIOR_DROP_REASON = "posterior encoder: used in training and voice conversion only (inference_only=True)"


def _config_info(
    config: Mapping[str, Any] | str | Path | None, found: Path | None, reader: str, embedded: Any, *, strict: bool
) -> ConfigInfo | None:
    given = config if config is not None else found
    if embedded is not None:  # hyperparameters stored inside the checkpoint, plus any config file
        data = read_json(given) if isinstance(given, (str, Path)) else given
        return read_config(reader, {"embedded": embedded, "file": data}, str(given or "checkpoint"), strict=strict)
    if given is None:
        return None
    return read_config(reader, given, None if isinstance(given, Mapping) else str(given), strict=strict)


def from_pretrained(
    source: str | Path,
    *,
    config: Mapping[str, Any] | str | Path | None = None,
    format: str = "auto",
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    force_download: bool = False,
    weight_norm: str = "fold",
    strict: bool = True,
    device: str | torch.device = "cpu",
    trust_pickle: bool = False,
    inference_only: bool = False,
    dtype: str | torch.dtype = torch.float32,
) -> Voice:
    """Load a VITS checkpoint of any supported layout into the reference generator.

    Args:
        source: a Hub repo id (``org/name``), a local folder, or a checkpoint file.
        config: the checkpoint's config (path or dict) when it is not beside the weights.
        format: a format name from ``configs/formats`` or ``"auto"`` to detect it.
        revision, cache_dir, local_files_only, token, force_download: forwarded to huggingface_hub.
        weight_norm: ``"fold"`` (plain weights, inference), ``"keep"`` (parametrized weight norm on every layer the
            format declares, fine-tuning) or ``"as-stored"`` (each layer as the file stores it: a (g, v) pair stays
            that pair, a plain weight stays plain; what ``vits-adapters convert`` uses, so pairs are never re-split).
        strict: refuse any missing, unexpected or mis-shaped tensor and any config field that is neither read
            nor known to be inert (default). ``False`` loads what fits and lists the gaps and unknown fields in
            the report.
        device: where the generator lives.
        trust_pickle: allow the small allowlist of harmless pickle types (paths, numpy scalars) in ``.pth``/``.ckpt``.
        inference_only: drop the posterior encoder (training and voice conversion only), with that reason in
            the report; the voice can then not be saved back losslessly.
        dtype: compute precision of the decoder: ``torch.float32`` (default) or ``torch.bfloat16`` (also "fp32",
            "bf16"); the decoder's weights are cast once, the other components stay float32.

    Returns:
        A :class:`Voice` with ``.generator``, ``.config``, ``.report``, ``.sample_rate`` and ``.synthesize``.

    Raises:
        CheckpointNotFoundError, CheckpointReadError, FormatDetectionError, KeyMappingError,
        ConfigMismatchError, StateDictMismatchError, SpecError: each says what was wrong and what to do.
        UnknownConfigFieldError: (a SpecError) a config field neither read nor known to be inert, with strict.
        InvalidInputError: an unknown or unsupported ``dtype``.

    Example:
        >>> voice = from_pretrained("org/vits-voice", local_files_only=True)  # doctest: +SKIP
        >>> print(voice.report)  # doctest: +SKIP
    """
    if weight_norm not in LOAD_MODES:
        raise InvalidInputError(f"weight_norm must be one of {LOAD_MODES}, got {weight_norm!r}")
    compute_dtype = resolve_dtype(dtype)
    specs = all_formats() if format == "auto" else [get_format(format)]
    specs.sort(key=lambda s: s.name != "vits-adapters")  # our own layout first: it is the cheapest to confirm
    located = resolve_source(
        source,
        specs,
        revision=revision,
        cache_dir=cache_dir,
        local_files_only=local_files_only,
        token=token,
        force_download=force_download,
    )
    raw = read_checkpoint(located.weights, trust_pickle=trust_pickle)
    detection = detect_format(raw.content, raw.metadata, specs, source=str(located.weights))
    spec = detection.spec
    logger.info("format %s", spec.name)
    refuse_non_finite(detection.unwrapped.state_dict, source=str(located.weights))
    renamed = rename_state_dict(detection.unwrapped.state_dict, spec)
    if strict:
        check_unmapped(renamed.unmapped, spec)
    # The config is looked for only now: which files can be a config depends on the layout just detected.
    config_file = find_config(located.folder, spec) if config is None else None
    info = _config_info(config, config_file, spec.config_reader, detection.unwrapped.embedded_config, strict=strict)
    # Read the hyperparameters before dropping the posterior encoder, so its sizes come from its tensors too.
    try:
        resolved = resolve_hparams(renamed.shapes(), info, spec.fixed)
    except StateDictMismatchError as err:  # a tensor every generator has is absent: name it as the file would
        raise err.named(renamed.names) from None
    if inference_only:
        renamed = drop_targets(renamed, "posterior_encoder.", _POSTERIOR_DROP_REASON)
    with_posterior = not inference_only and (info is None or info.has_posterior_encoder)
    dims, mode = spec.weight_norm_dims, weight_norm
    if weight_norm == "as-stored":
        dims = _stored_pair_dims(renamed, spec)
        mode = "keep" if dims else "fold"
    # Strict loading fills every tensor, so the model is built on the meta device with no initialisation at all.
    with meta_device_without_init() if strict else torch.device("cpu"):
        generator = VitsGenerator(
            resolved.hparams, weight_norm=mode, weight_norm_dims=dims, posterior_encoder=with_posterior
        )
    expected = generator.state_dict(keep_vars=True)
    release = functools.partial(release_pages, mapped=raw.mapped_ranges) if raw.mapped_ranges else None
    result = reconcile_forms(
        renamed, expected, rules=spec.weight_norm_rules, target_dim=generator.weight_norm_dim, release=release
    )
    outcome = load_converted(
        generator, result.state_dict, strict=strict, unmapped=result.unmapped, name=renamed.names
    )
    generator.to(device).eval()
    if compute_dtype != torch.float32:
        cast_decoder(generator, compute_dtype)
    report = LoadReport(
        format=spec.name,
        source=located.label,
        records=result.records,
        target_count=len(expected),
        weight_norm=weight_norm,
        strict=strict,
        ignored_entries=detection.unwrapped.ignored,
        config_ignored=dict(info.ignored) if info else {},
        missing=outcome.missing,
        unexpected=outcome.unexpected,
        mismatched=outcome.mismatched,
        hparams_provenance=resolved.provenance,
        assumed={**resolved.assumed, **detection.unwrapped.assumed},
        source_forms=form_counts(renamed, spec.weight_norm_rules),
        casts=outcome.casts,
        allowed_globals=raw.allowed_globals,
        revision=located.revision,
        files=tuple(str(p) for p in (located.weights, config if isinstance(config, (str, Path)) else config_file) if p),
        speaker_embedding_size=resolved.hparams.gin_channels if resolved.hparams.external_speaker else 0,
    )
    return Voice(
        generator=generator,
        report=report,
        text_settings=dict(info.text) if info else {},
        text_files=located.extras,
        synthesis_defaults=dict(info.synthesis) if info else {},
        source_config=(
            {"format": info.original_format or spec.name, "config": info.original} if info and info.original else {}
        ),
    )
