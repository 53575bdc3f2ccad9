"""Write a loaded voice back out: our safetensors form or the original VITS trainer form, atomically."""

from __future__ import annotations

import json
import logging
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import save_file
from torch import Tensor

from .atomic import atomic_write
from .errors import KeyMappingError, SpecError, format_keys
from .keymap import invert_rule, map_keys
from .model.hparams import VitsHParams
from .model.vits import VitsGenerator
from .registry import get_format
from .weight_norm import FORMS, convert_weight_norm, group_weight_keys, weight_keys

if TYPE_CHECKING:
    from .voice import Voice

logger = logging.getLogger(__name__)

# Original VITS configs can only express these; anything else differs from what its code hard-codes.
_ORIGINAL_FIXED = {
    "window_size": 4,
    "flow_n_flows": 4,
    "flow_n_layers": 4,
    "flow_kernel_size": 5,
    "flow_dilation_rate": 1,
    "posterior_n_layers": 16,
    "posterior_kernel_size": 5,
    "posterior_dilation_rate": 1,
    "dp_filter_channels": 256,
    "dp_kernel_size": 3,
    "sdp_n_flows": 4,
    "sdp_num_bins": 10,
    "sdp_tail_bound": 5.0,
    "sdp_dds_layers": 3,
}


def generator_state_dict(generator: VitsGenerator, weight_norm: str) -> dict[str, Tensor]:
    """The generator's tensors with every weight-norm layer in ``weight_norm`` form (plain, legacy, parametrized)."""
    if weight_norm not in FORMS:
        raise ValueError(f"weight_norm must be one of {FORMS}, got {weight_norm!r}")
    state = {k: v.detach() for k, v in generator.state_dict().items()}
    forms = group_weight_keys(state)
    out = dict(state)
    for name in generator.weight_norm_layer_names():
        form = forms[name]
        if form == weight_norm:
            continue
        dim = generator.weight_norm_dim(name)
        converted = convert_weight_norm(state, name, source_form=form, target_form=weight_norm, dim=dim)
        for key in weight_keys(name, form):
            del out[key]
        out.update(converted)
    return out


def _library_versions() -> dict[str, str]:
    try:
        ours = importlib_metadata.version("vits-adapters")
    except importlib_metadata.PackageNotFoundError:
        ours = "unknown"
    return {"vits_adapters": ours, "torch": torch.__version__}


def _prepare(directory: Path, names: list[str], overwrite: bool) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    existing = [n for n in names if (directory / n).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{directory}: {', '.join(existing)} already exist; pass overwrite=True to replace them")


def _write_json(path: Path, data: dict[str, Any], overwrite: bool) -> None:
    with atomic_write(path, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _own_config(voice: Voice) -> dict[str, Any]:
    text = voice.frontend.to_dict() if voice.frontend is not None else dict(voice.text_settings)
    report = voice.report
    return {
        "format": "vits-adapters",
        "hparams": voice.config.to_dict(),
        "components": {"posterior_encoder": hasattr(voice.generator, "posterior_encoder")},
        "text": text,
        "source": {"source": report.source, "format": report.format, "revision": report.revision},
        "library": _library_versions(),
    }


def _original_config(voice: Voice) -> dict[str, Any]:
    hp = voice.config
    if not hasattr(voice.generator, "posterior_encoder"):
        raise SpecError(
            "the original VITS layout needs the posterior encoder, which this voice dropped (inference_only=True); "
            "load it again without inference_only to write this layout"
        )
    fixed = {name: getattr(hp, name) for name in _ORIGINAL_FIXED if getattr(hp, name) != _ORIGINAL_FIXED[name]}
    if fixed:
        raise SpecError(
            "the original VITS layout cannot represent these hyperparameters (its code hard-codes them):\n"
            + format_keys(f"{k}={v!r} (original: {_ORIGINAL_FIXED[k]!r})" for k, v in fixed.items())
        )
    text = voice.frontend.to_dict() if voice.frontend is not None else voice.text_settings
    model = {
        k: v
        for k, v in hp.to_dict().items()
        if k in VitsHParams.__dataclass_fields__ and k not in _ORIGINAL_FIXED
        and k not in ("n_vocab", "spec_channels", "n_speakers", "sampling_rate")
    }
    filter_length = (hp.spec_channels - 1) * 2
    return {
        "train": {"segment_size": 32 * hp.hop_length},
        "data": {
            "sampling_rate": hp.sampling_rate,
            "filter_length": filter_length,
            "hop_length": hp.hop_length,
            "win_length": filter_length,
            "n_mel_channels": 80,
            "add_blank": bool(text.get("add_blank", True)),
            "n_speakers": hp.n_speakers,
            "text_cleaners": list(text.get("cleaners", [])),
            "cleaned_text": True,
        },
        "model": model,
    }


def _to_original_keys(state: dict[str, Tensor]) -> dict[str, Tensor]:
    spec = get_format("vits-original")
    inverse = [invert_rule(rule) for rule in spec.rename_rules]
    mapping = map_keys(state, inverse)
    if mapping.unmapped:
        raise KeyMappingError(
            "these tensors have no place in the original VITS layout:\n" + format_keys(mapping.unmapped)
        )
    return {source: state[target] for target, (source, _) in mapping.renamed.items()}


def export_voice(voice: Voice, directory: Path, *, format: str, weight_norm: str, overwrite: bool) -> list[Path]:
    """Write ``voice`` into ``directory``; returns the files written. Refuses to overwrite unless asked."""
    state = generator_state_dict(voice.generator, weight_norm)
    if format == "vits-adapters":
        names = ["model.safetensors", "config.json"]
        _prepare(directory, names, overwrite)
        tensors = {k: v.contiguous().clone() for k, v in state.items()}
        with atomic_write(directory / names[0], overwrite=overwrite) as tmp:
            save_file(tensors, str(tmp), metadata={"format": "vits-adapters", "weight_norm": weight_norm})
        _write_json(directory / names[1], _own_config(voice), overwrite)
    else:
        config = _original_config(voice)
        names = ["G_0.pth", "config.json"]
        _prepare(directory, names, overwrite)
        checkpoint = {"model": _to_original_keys(state), "iteration": 0, "optimizer": None, "learning_rate": 0.0}
        # Saving through a handle keeps the temporary file's name out of the archive, so equal tensors give equal bytes.
        with atomic_write(directory / names[0], overwrite=overwrite) as tmp, tmp.open("wb") as handle:
            torch.save(checkpoint, handle)
        _write_json(directory / names[1], config, overwrite)
    logger.info("wrote %s in %s form to %s", format, weight_norm, directory)
    return [directory / n for n in names]
