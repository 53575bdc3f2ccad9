"""Write a loaded voice in one of the supported layouts (keys, weight-norm forms, files), atomically."""

from __future__ import annotations

import errno
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors import SafetensorError
from safetensors.torch import save_file
from torch import Tensor

from ..io.atomic import atomic_write_files
from .config_writers import coqui_config, original_config, own_config, piper_hyper_parameters, piper_voice_config, transformers_config
from ..mapping.convert import apply_reshape
from ..errors import KeyMappingError, SpecError, format_keys
from ..mapping.keymap import invert_rule, map_keys
from ..arch.vits.generator import VitsGenerator
from ..mapping.registry import get_format
from ..mapping.spec import UNDECLARED, WeightNormRule, declared_dim
from ..weightnorm.tensors import FORMS, convert_weight_norm, group_weight_keys, weight_keys

if TYPE_CHECKING:
    from ..voice import Voice

logger = logging.getLogger(__name__)


def _trainer_container(state: dict[str, Tensor], voice: Voice) -> dict[str, Any]:
    return {"model": state, "iteration": 0, "optimizer": None, "learning_rate": 0.0}


def _coqui_container(state: dict[str, Tensor], voice: Voice) -> dict[str, Any]:
    return {"model": state, "config": coqui_config(voice), "step": 0, "epoch": 0}


def _lightning_container(state: dict[str, Tensor], voice: Voice) -> dict[str, Any]:
    return {
        "state_dict": {f"model_g.{key}": tensor for key, tensor in state.items()},
        "hyper_parameters": piper_hyper_parameters(voice),
        "epoch": 0,
        "global_step": 0,
    }


@dataclass(frozen=True)
class _Layout:
    weights: str  # file name
    default_weight_norm: str
    plain_layers: str | None  # layers this layout always stores plain (full-match pattern), whatever is asked
    config: Callable[[Voice], dict[str, Any]]
    container: Callable[[dict[str, Tensor], Voice], dict[str, Any]] | None = None  # for pickled layouts


LAYOUTS: dict[str, _Layout] = {
    # Ours stores whatever the generator holds: plain when folded, the g/v pairs when built with weight_norm="keep".
    "vits-adapters": _Layout("model.safetensors", "as-held", None, own_config),
    # The original trainer builds every weight-norm layer with the legacy hook, so it can only load g/v pairs.
    "vits-original": _Layout("G_0.pth", "legacy", None, original_config, _trainer_container),
    # VitsHifiGan has plain convolutions; only its WaveNet layers carry weight norm.
    "transformers": _Layout("model.safetensors", "parametrized", r"decoder\..+", transformers_config),
    # Piper's training code is the original's, with Lightning around it (generator only: no discriminator).
    "piper": _Layout("generator.ckpt", "legacy", None, piper_voice_config, _lightning_container),
    # coqui-tts (like coqui-ai TTS >= 0.20) builds its weight norm with torch's parametrizations.
    "coqui": _Layout("model.pth", "parametrized", None, coqui_config, _coqui_container),
}


# Short names the command line accepts for `--to`.
FORMAT_ALIASES = {"vits": "vits-original", "safetensors": "vits-adapters"}


def generator_state_dict(
    generator: VitsGenerator,
    weight_norm: str,
    *,
    rules: tuple[WeightNormRule, ...],
    plain_layers: str | None = None,
) -> dict[str, Tensor]:
    """The generator's tensors with the layers ``rules`` declare in ``weight_norm`` form, split with the declared dim.

    ``weight_norm="as-held"`` keeps each declared layer in the form the generator holds it (plain or a pair).

    ``rules`` are the target format's weight-norm declarations (its YAML): they alone decide which layers carry a
    (g, v) pair and along which dim. A layer the generator holds as a pair that the target does not declare, or that
    fully matches ``plain_layers``, is written plain.
    """
    if weight_norm not in (*FORMS, "as-held"):
        raise ValueError(f"weight_norm must be one of {FORMS} or 'as-held', got {weight_norm!r}")
    state = {k: v.detach() for k, v in generator.state_dict().items()}
    out = dict(state)
    for name, form in group_weight_keys(state).items():
        dim = declared_dim(rules, name)
        if dim is UNDECLARED or plain_layers and re.fullmatch(plain_layers, name):
            wanted, dim = "plain", None
        else:
            wanted = form if weight_norm == "as-held" else weight_norm
        held_dim = generator.weight_norm_dim(name) if form != "plain" else dim
        if form == wanted and held_dim == dim:
            continue
        converted = convert_weight_norm(
            state, name, source_form=form, target_form=wanted, dim=held_dim, target_dim=dim
        )
        for key in weight_keys(name, form):
            del out[key]
        out.update(converted)
    return out


def to_layout_keys(state: dict[str, Tensor], format: str) -> dict[str, Tensor]:
    """Rename reference-generator tensors to ``format``'s keys with its inverted rename rules."""
    inverse = [invert_rule(rule) for rule in get_format(format).rename_rules]
    mapping = map_keys(state, inverse)
    if mapping.unmapped:
        raise KeyMappingError(f"these tensors have no place in the {format} layout:\n" + format_keys(mapping.unmapped))
    return {
        source: apply_reshape(state[target], mapping.reshapes[target], target) if target in mapping.reshapes else state[target]
        for target, (source, _) in mapping.renamed.items()
    }


def default_weight_norm(voice: Voice, format: str) -> str:
    """The weight-norm form ``format`` is written in when the caller does not choose one."""
    format = FORMAT_ALIASES.get(format, format)
    default = LAYOUTS[format].default_weight_norm
    if default == "as-held":  # named by the one form the declared layers are held in, if they share one
        rules = get_format(format).weight_norm_rules
        layers = group_weight_keys(voice.generator.state_dict()).items()
        held = {form for name, form in layers if declared_dim(rules, name) is not UNDECLARED}
        return held.pop() if len(held) == 1 else "plain" if not held else "as-held"
    return default


def output_names(voice: Voice, format: str) -> list[str]:
    """The file names ``export_voice`` writes for ``voice`` in ``format``."""
    format = FORMAT_ALIASES.get(format, format)
    if format not in LAYOUTS:
        raise SpecError(f"cannot write format {format!r}; choose one of {', '.join(LAYOUTS)}")
    names = [LAYOUTS[format].weights, "config.json"]
    if format == "transformers" and voice.frontend is not None:
        names += ["vocab.json", "tokenizer_config.json"]
    return names


def _refuse_source(voice: Voice, directory: Path, names: list[str]) -> None:
    sources = {Path(path).resolve() for path in voice.report.files}
    clashes = [directory / name for name in names if (directory / name).resolve() in sources]
    if clashes:
        raise FileExistsError(
            "refusing to write over the checkpoint being converted:\n"
            + "\n".join(f"  {path}" for path in clashes)
            + "\nChoose another output folder."
        )


def _write_weights(path: Path, state: dict[str, Tensor], payload: Any, format: str, weight_norm: str) -> None:
    if path.suffix == ".safetensors":
        tensors = {k: v.contiguous().clone() for k, v in state.items()}
        metadata = {"format": "vits-adapters", "weight_norm": weight_norm} if format == "vits-adapters" else {"format": "pt"}
        try:
            save_file(tensors, str(path), metadata=metadata)
        except SafetensorError as err:  # safetensors reports I/O failures (a full disk...) as its own error
            code = re.search(r"os error (\d+)", str(err))
            raise OSError(int(code.group(1)) if code else errno.EIO, f"could not write the weights: {err}") from err
    else:
        # Saving through a handle keeps the file's name out of the archive: equal tensors, equal bytes.
        try:
            with path.open("wb") as handle:
                torch.save(payload, handle)
        except RuntimeError as err:  # torch.save turns a failed write (a full disk...) into a RuntimeError
            cause = err.__context__
            if not isinstance(cause, OSError):
                raise
            raise OSError(cause.errno, f"could not write the weights: {cause.strerror or cause}") from err


def export_voice(
    voice: Voice, directory: Path, *, format: str, weight_norm: str | None, overwrite: bool
) -> list[Path]:
    """Write ``voice`` into ``directory`` in ``format``; returns the files written.

    Raises:
        SpecError: an unknown format, or hyperparameters the layout cannot represent (all listed).
        FileExistsError: an output exists and ``overwrite`` is False, or an output is one of the voice's own source
            files; nothing is written then. A failure while writing leaves every previous file as it was.
    """
    format = FORMAT_ALIASES.get(format, format)
    names = output_names(voice, format)
    layout = LAYOUTS[format]
    weight_norm = weight_norm or default_weight_norm(voice, format)
    config = layout.config(voice)  # refuses an unrepresentable voice before anything is written
    rules = get_format(format).weight_norm_rules
    state = generator_state_dict(voice.generator, weight_norm, rules=rules, plain_layers=layout.plain_layers)
    if format != "vits-adapters":
        state = to_layout_keys(state, format)
    # A pickled layout's container carries its own hyperparameters: build it (and so refuse) before writing anything.
    payload = layout.container(state, voice) if layout.container else None
    _refuse_source(voice, directory, names)
    with atomic_write_files(directory, names, overwrite=overwrite) as staging:
        _write_weights(staging / layout.weights, state, payload, format, weight_norm)
        (staging / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        if "vocab.json" in names:
            voice.frontend.to_transformers_files(staging)
    logger.info("wrote %s (%s weight norm) to %s", format, weight_norm, directory)
    return [directory / n for n in names]
