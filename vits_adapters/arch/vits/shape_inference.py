"""Determine VITS hyperparameters from tensor shapes, and reconcile them with what a config declares."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from ...mapping.config_info import ConfigInfo
from ...errors import ConfigMismatchError, StateDictMismatchError
from .hparams import VitsHParams

Shape = tuple[int, ...]

# Fields no tensor shape determines, with the convention assumed when no config gives them.
_ASSUMPTIONS = {
    "sampling_rate": "22050 Hz (original VITS default)",
    "upsample_rates": "each upsample kernel size // 2 (the HiFi-GAN convention)",
    "resblock_dilation_sizes": "the standard dilations for the resblock type",
}
# Fields neither tensors nor every config give, the original VITS value assumed for each, and when it matters.
_CONVENTIONS: dict[str, tuple[str, Any]] = {
    "flow_dilation_rate": ("1 (original VITS)", lambda v, posterior: True),
    "posterior_dilation_rate": ("1 (original VITS)", lambda v, posterior: posterior),
    "sdp_tail_bound": ("5.0 (original VITS)", lambda v, posterior: v["use_sdp"]),
    "dp_layer_norm_eps": ("1e-5 (original VITS)", lambda v, posterior: not v["use_sdp"]),
    "dp_condition_on_speaker": ("True (original VITS)", lambda v, posterior: v["gin_channels"] > 0),
}
_UNCONFIRMED = "the layout was recognised from its key names; no config confirms it"


@dataclass(frozen=True)
class ResolvedHParams:
    """Hyperparameters with the provenance of each field: "shapes", "config", "shapes+config" or "assumed"."""

    hparams: VitsHParams
    provenance: dict[str, str]
    assumed: dict[str, str]


def _count(shapes: Mapping[str, Shape], pattern: str) -> int:
    regex = re.compile(pattern)
    indices = {int(m.group(1)) for key in shapes if (m := regex.fullmatch(key))}
    return max(indices) + 1 if indices else 0


def _need(shapes: Mapping[str, Shape], key: str) -> Shape:
    if key not in shapes:
        raise StateDictMismatchError(
            "cannot determine the model's shape: a tensor every VITS generator has is absent", missing=[key]
        )
    return shapes[key]


def infer_from_shapes(shapes: Mapping[str, Shape]) -> dict[str, Any]:
    """Hyperparameters that target-space weight shapes determine (weight-norm groups given by their weight shape)."""
    out: dict[str, Any] = {}
    n_vocab, hidden = _need(shapes, "text_encoder.embed_tokens.weight")
    out.update(n_vocab=n_vocab, hidden_channels=hidden)
    out["inter_channels"] = _need(shapes, "text_encoder.project.weight")[0] // 2
    layer = "text_encoder.encoder.layers.0"
    filter_channels, _, kernel_size = _need(shapes, f"{layer}.feed_forward.conv_1.weight")
    out.update(filter_channels=filter_channels, kernel_size=kernel_size)
    out["n_layers"] = _count(shapes, r"text_encoder\.encoder\.layers\.(\d+)\.attention\.q_proj\.weight")
    _, span, head_channels = _need(shapes, f"{layer}.attention.emb_rel_k")
    out.update(n_heads=hidden // head_channels, window_size=(span - 1) // 2)

    out["upsample_initial_channel"] = _need(shapes, "decoder.conv_pre.weight")[0]
    stages = _count(shapes, r"decoder\.upsampler\.(\d+)\.weight")
    out["upsample_kernel_sizes"] = tuple(shapes[f"decoder.upsampler.{i}.weight"][2] for i in range(stages))
    out["resblock"] = "1" if "decoder.resblocks.0.convs1.0.weight" in shapes else "2"
    conv = "convs1" if out["resblock"] == "1" else "convs"
    n_blocks = _count(shapes, rf"decoder\.resblocks\.(\d+)\.{conv}\.0\.weight")
    kernels_per_stage = n_blocks // max(stages, 1)
    out["resblock_kernel_sizes"] = tuple(
        _need(shapes, f"decoder.resblocks.{k}.{conv}.0.weight")[2] for k in range(kernels_per_stage)
    )
    out["_dilations_per_block"] = tuple(
        _count(shapes, rf"decoder\.resblocks\.{k}\.{conv}\.(\d+)\.weight") for k in range(kernels_per_stage)
    )

    if "embed_speaker.weight" in shapes:
        out["n_speakers"], out["gin_channels"] = shapes["embed_speaker.weight"]
    else:
        out["n_speakers"] = 0
        out["gin_channels"] = shapes["decoder.cond.weight"][1] if "decoder.cond.weight" in shapes else 0

    out["use_sdp"] = "duration_predictor.flows.0.translate" in shapes
    if out["use_sdp"] and out["gin_channels"]:
        # A stochastic predictor has a speaker input exactly when it is conditioned (Coqui drops it otherwise);
        # Coqui's deterministic one keeps an unused input either way, so only its config can tell.
        out["dp_condition_on_speaker"] = "duration_predictor.cond.weight" in shapes
    if out["use_sdp"]:
        # Index 0 of both chains is the affine flow (no convolutions), so the spline flows sit at 1..n.
        out["sdp_n_flows"] = max(_count(shapes, r"duration_predictor\.flows\.(\d+)\.conv_pre\.weight") - 1, 0)
        out["sdp_post_n_flows"] = max(
            _count(shapes, r"duration_predictor\.post_flows\.(\d+)\.conv_pre\.weight") - 1, 0
        )
        out["sdp_num_bins"] = (_need(shapes, "duration_predictor.flows.1.conv_proj.weight")[0] + 1) // 3
        out["sdp_dds_layers"] = _count(shapes, r"duration_predictor\.conv_dds\.convs_dilated\.(\d+)\.weight")
        out["dp_kernel_size"] = _need(shapes, "duration_predictor.conv_dds.convs_dilated.0.weight")[2]
        width = _need(shapes, "duration_predictor.conv_pre.weight")[0]
        if width != hidden:
            out["sdp_filter_channels"] = width
    else:
        out["dp_filter_channels"], _, out["dp_kernel_size"] = _need(shapes, "duration_predictor.conv_1.weight")

    out["flow_n_flows"] = _count(shapes, r"flow\.flows\.(\d+)\.conv_pre\.weight")
    out["flow_n_layers"] = _count(shapes, r"flow\.flows\.0\.wavenet\.in_layers\.(\d+)\.weight")
    out["flow_kernel_size"] = _need(shapes, "flow.flows.0.wavenet.in_layers.0.weight")[2]
    if "posterior_encoder.conv_pre.weight" in shapes:
        out["spec_channels"] = shapes["posterior_encoder.conv_pre.weight"][1]
        out["posterior_n_layers"] = _count(shapes, r"posterior_encoder\.wavenet\.in_layers\.(\d+)\.weight")
        out["posterior_kernel_size"] = shapes["posterior_encoder.wavenet.in_layers.0.weight"][2]
    return out


def _standard_dilations(resblock: str, per_block: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    # Original VITS ResBlock1 uses (1, 3, 5); its ResBlock2 default is (1, 3).
    base = (1, 3, 5) if resblock == "1" else (1, 3)
    return tuple(base[:n] if n <= len(base) else tuple(1 + 2 * i for i in range(n)) for n in per_block)


def resolve_hparams(
    shapes: Mapping[str, Shape], config: ConfigInfo | None, fixed: Mapping[str, tuple[Any, str]] | None = None
) -> ResolvedHParams:
    """Combine shapes, config and the layout's ``fixed`` facts (its YAML); any field two sources give must agree.

    A fixed fact is provenance "format", and ASSUMED when no config confirms the layout. Any other field that
    matters and that no source gives is ASSUMED with the original VITS value.

    Raises:
        ConfigMismatchError: a config value disagrees with the tensors (names the field and both values).
    """
    from_shapes = infer_from_shapes(shapes)
    per_block = from_shapes.pop("_dilations_per_block")
    declared = dict(config.hparams) if config else {}
    mismatches = []
    values: dict[str, Any] = {}
    provenance: dict[str, str] = {}
    for name, value in from_shapes.items():
        if name in declared:
            given = declared[name]
            same = tuple(given) == value if isinstance(value, tuple) else given == value
            if name == "n_speakers" and value == 0 and given in (0, 1):
                same = True  # single-speaker configs say 0 or 1; neither has an embedding table
            if not same:
                mismatches.append(f"{name}: config says {given!r}, tensors say {value!r}")
            provenance[name] = "shapes+config"
        else:
            provenance[name] = "shapes"
        values[name] = value
    for name, value in declared.items():
        if name not in values:
            values[name] = value
            provenance[name] = "config"
    if "resblock_dilation_sizes" in values:
        counts = tuple(len(row) for row in values["resblock_dilation_sizes"])
        if counts != per_block:
            mismatches.append(f"resblock_dilation_sizes: config gives {counts} convs per block, tensors have {per_block}")
    assumed: dict[str, str] = {}
    if "upsample_rates" not in values:
        values["upsample_rates"] = tuple(k // 2 for k in values["upsample_kernel_sizes"])
        assumed["upsample_rates"] = _ASSUMPTIONS["upsample_rates"]
    if "resblock_dilation_sizes" not in values:
        values["resblock_dilation_sizes"] = _standard_dilations(values["resblock"], per_block)
        assumed["resblock_dilation_sizes"] = _ASSUMPTIONS["resblock_dilation_sizes"]
    hop = config.checks.get("hop_length") if config else None
    if hop is not None:
        product = 1
        for rate in values["upsample_rates"]:
            product *= rate
        if hop != product:
            mismatches.append(f"hop_length: config says {hop}, the decoder upsamples by {product} (product of upsample_rates)")
    if mismatches:
        source = config.source if config else "config"
        raise ConfigMismatchError(
            f"{source} disagrees with the checkpoint's tensors:\n  " + "\n  ".join(mismatches)
            + "\nPass the config that belongs to these weights (config=...)."
        )
    for name, (value, why) in (fixed or {}).items():
        if name not in values:
            values[name] = value
            provenance[name] = "format"
            if config is None:
                assumed[name] = f"{value!r}: {why} ({_UNCONFIRMED})"
    posterior = "posterior_encoder.conv_pre.weight" in shapes
    for name, (why, matters) in _CONVENTIONS.items():
        if name not in values and matters(values, posterior):
            assumed[name] = why
    if "sampling_rate" not in values:
        assumed["sampling_rate"] = _ASSUMPTIONS["sampling_rate"]
    known = {f.name for f in fields(VitsHParams)} - {"extra"}
    hparams = VitsHParams(**{k: v for k, v in values.items() if k in known})
    for name in assumed:
        provenance[name] = "assumed"
    return ResolvedHParams(hparams=hparams, provenance=provenance, assumed=assumed)
