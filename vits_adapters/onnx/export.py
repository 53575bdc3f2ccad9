"""Export a voice's text-to-speech path to an ONNX file with metadata, checked against the PyTorch generator."""

from __future__ import annotations

import copy
import io
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..io.atomic import atomic_write
from ..errors import InvalidInputError, MissingDependencyError, OnnxExportError
from ..arch.vits.generator import VitsGenerator
from .graph import NOISE_MODES, OUTPUT_NAMES, OnnxInferenceGraph
from .run import load_onnx_session, run_onnx

if TYPE_CHECKING:
    from ..voice import Voice

logger = logging.getLogger(__name__)

FORMAT_VERSION = "1"
DEFAULT_OPSET = 17
MIN_OPSET = 16  # ScatterElements with reduction="add" (relative attention) arrived in opset 16
PARITY_ATOL = 1e-4
_DEFAULT_SCALES = {"noise_scale": 0.667, "length_scale": 1.0, "noise_scale_w": 0.8}
_EXAMPLE_TOKENS = 12
_CHECK_TOKENS = 29


def _require_onnx() -> Any:
    try:
        import onnx
    except ImportError as err:
        raise MissingDependencyError(
            "ONNX export needs the 'onnx' package; install it with: pip install 'vits-adapters[onnx]'"
        ) from err
    return onnx


def _inference_copy(generator: VitsGenerator) -> VitsGenerator:
    """The generator itself when it is folded, float32 and on CPU; else such a copy (the original is untouched)."""
    param = next(generator.parameters())
    if generator.weight_norm == "fold" and param.device.type == "cpu" and param.dtype == torch.float32:
        return generator.eval()
    clone = copy.deepcopy(generator).to(device="cpu", dtype=torch.float32)
    clone.fold_weight_norm()
    return clone.eval()


def _token_ids(n_vocab: int, count: int) -> list[int]:
    # Cycle through the vocabulary (skipping id 0, often padding) so every example has varied tokens.
    return [1 + i % max(n_vocab - 1, 1) for i in range(count)]


def _example_inputs(graph: OnnxInferenceGraph, scales: dict[str, float]) -> tuple[torch.Tensor, ...]:
    gen = graph.generator
    tokens = torch.tensor([_token_ids(gen.hparams.n_vocab, _EXAMPLE_TOKENS)])
    values: dict[str, torch.Tensor] = {
        "token_ids": tokens,
        "token_lengths": torch.tensor([tokens.size(1)]),
        **{name: torch.tensor(float(scales[name])) for name in _DEFAULT_SCALES},
        "speaker_ids": torch.tensor([0]),
        "duration_noise": torch.zeros(1, 2, tokens.size(1)),
    }
    if "prior_noise" in graph.input_names:
        speakers = values["speaker_ids"] if gen.hparams.multi_speaker else None
        stages = gen.infer(tokens, speaker_ids=speakers, noise_scale_w=0.0, length_scale=scales["length_scale"])
        values["prior_noise"] = torch.zeros(1, gen.hparams.inter_channels, int(stages.frame_lengths.max()))
    return tuple(values[name] for name in graph.input_names)


def _trace_to_bytes(graph: OnnxInferenceGraph, example: tuple[torch.Tensor, ...], opset: int) -> bytes:
    buffer = io.BytesIO()
    # Tracing runs the model once; with noise="graph" that draws from torch's global RNG, whose state is restored.
    with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
        # The tracer's notes on Python values are expected: the frame count is the one data-dependent size and
        # OnnxInferenceGraph keeps it a tensor; the parity check in export_onnx proves the trace general.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # torch.flip becomes a Slice with step -1, which the exporter leaves unfolded (it is cheap at run time).
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1", category=UserWarning)
        # The TorchScript exporter is deprecated in favour of torch.export's, which needs the onnxscript package;
        # this one needs only onnx, and tracing with a tensor frame count covers every input length.
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="The feature will be removed", category=DeprecationWarning)
        try:
            torch.onnx.export(
                graph,
                example,
                buffer,
                dynamo=False,
                opset_version=opset,
                input_names=list(graph.input_names),
                output_names=list(OUTPUT_NAMES),
                dynamic_axes=graph.dynamic_axes(),
                do_constant_folding=True,
            )
        except Exception as err:  # the exporter raises many unrelated types; keep the cause attached
            raise OnnxExportError(f"torch.onnx.export failed at opset {opset}: {err}") from err
    return buffer.getvalue()


def _metadata(generator: VitsGenerator, noise: str, scales: dict[str, float]) -> dict[str, str]:
    hp = generator.hparams
    return {
        "vits_adapters.format_version": FORMAT_VERSION,
        "sample_rate": str(hp.sampling_rate),
        "hop_length": str(hp.hop_length),
        "n_speakers": str(hp.n_speakers),
        "n_vocab": str(hp.n_vocab),
        "inter_channels": str(hp.inter_channels),
        "noise": noise,
        **{name: repr(float(scales[name])) for name in _DEFAULT_SCALES},
    }


def _verify(model_path: Path, generator: VitsGenerator, noise: str) -> float:
    """Run the exported file and PyTorch on the same tokens at zero noise; returns the max abs difference."""
    hp = generator.hparams
    tokens = _token_ids(hp.n_vocab, _CHECK_TOKENS)
    speaker = 0 if hp.multi_speaker else None
    stages = generator.infer(
        torch.tensor([tokens]),
        speaker_ids=None if speaker is None else torch.tensor([speaker]),
        noise_scale=0.0,
        noise_scale_w=0.0,
    )
    expected = stages.waveform[0, 0].numpy()
    extra: dict[str, np.ndarray] = {}
    if noise == "inputs":
        extra = {
            "duration_noise": np.zeros((1, 2, len(tokens)), np.float32),
            "prior_noise": np.zeros((1, hp.inter_channels, int(stages.frame_lengths[0])), np.float32),
        }
    session = load_onnx_session(model_path)
    actual = run_onnx(session, tokens, speaker_id=speaker, noise_scale=0.0, noise_scale_w=0.0, **extra)
    if actual.shape != expected.shape:
        raise OnnxExportError(
            f"the exported model gives {actual.shape[0]} samples where PyTorch gives {expected.shape[0]} "
            f"for the same {len(tokens)} tokens at zero noise; the export is not usable"
        )
    diff = float(np.max(np.abs(actual - expected)))
    if not diff <= PARITY_ATOL:
        raise OnnxExportError(
            f"the exported model's waveform differs from PyTorch's by up to {diff:.3g} (allowed {PARITY_ATOL}) "
            "at zero noise; the export is not usable"
        )
    return diff


def export_onnx(
    source: Voice | VitsGenerator,
    path: str | os.PathLike[str],
    *,
    opset: int = DEFAULT_OPSET,
    noise: str = "graph",
    overwrite: bool = False,
    verify: bool = True,
) -> Path:
    """Write the text-to-speech path of ``source`` as one ONNX file with variable batch, token and sample axes.

    Inputs: ``token_ids [b, t]``, ``token_lengths [b]`` (int64); ``noise_scale``, ``length_scale``,
    ``noise_scale_w`` (0-d float32); ``speaker_ids [b]`` for multi-speaker voices; with ``noise="inputs"`` also
    ``duration_noise [b, 2, t]`` and ``prior_noise [b, inter_channels, >= frames]`` (see
    :class:`~vits_adapters.onnx.graph.OnnxInferenceGraph`). Outputs: ``waveform [b, samples]``,
    ``waveform_lengths [b]``. Metadata (``metadata_props``): format version, sample rate, hop length, speakers,
    vocabulary size, noise mode and the voice's default scales.

    Args:
        source: a loaded :class:`Voice` (its default scales go into the metadata) or a bare generator. A generator
            in ``weight_norm="keep"`` mode, off CPU or not float32 is exported from a folded float32 CPU copy.
        path: the ``.onnx`` file to write (atomically).
        opset: the ONNX opset (16 or later).
        noise: ``"graph"`` (noise drawn inside the model, like Piper's exports) or ``"inputs"`` (caller supplies the
            standard-normal noise, so runs are reproducible and match PyTorch for any noise scale).
        overwrite: replace an existing file.
        verify: run the written model with onnxruntime against PyTorch at zero noise before keeping it.

    Returns:
        The path written.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        MissingDependencyError: ``onnx`` (or, to verify, ``onnxruntime``) is not installed.
        OnnxExportError: the export failed, or the exported model disagrees with PyTorch.
        InvalidInputError: an opset below 16 or an unknown noise mode.

    Example:
        >>> export_onnx(from_pretrained("org/voice"), "voice.onnx")  # doctest: +SKIP
    """
    target = Path(path)
    if opset < MIN_OPSET:
        raise InvalidInputError(f"opset must be {MIN_OPSET} or later (ScatterElements with reduction), got {opset}")
    if noise not in NOISE_MODES:
        raise InvalidInputError(f"noise must be one of {NOISE_MODES}, got {noise!r}")
    if not overwrite and target.exists():
        raise FileExistsError(f"refusing to overwrite existing file: {target} (pass overwrite=True)")
    onnx = _require_onnx()
    generator = source if isinstance(source, VitsGenerator) else source.generator
    scales = {**_DEFAULT_SCALES, **({} if isinstance(source, VitsGenerator) else source.synthesis_defaults)}
    generator = _inference_copy(generator)
    graph = OnnxInferenceGraph(generator, noise=noise)
    with torch.no_grad():
        model = onnx.load_from_string(_trace_to_bytes(graph, _example_inputs(graph, scales), opset))
    for key, value in _metadata(generator, noise, scales).items():
        model.metadata_props.add(key=key, value=value)
    model.producer_name = "vits-adapters"
    with atomic_write(target, overwrite=overwrite) as temp:
        onnx.save(model, temp)
        if verify:
            diff = _verify(temp, generator, noise)
            logger.info("verified %s against PyTorch at zero noise: max abs diff %.3g", target, diff)
    logger.info("wrote %s (opset %d, noise %s)", target, opset, noise)
    return target
