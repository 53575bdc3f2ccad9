"""Run an exported VITS ONNX model with onnxruntime: one utterance of token ids in, its waveform out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InvalidInputError, MissingDependencyError


def _require_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as err:
        raise MissingDependencyError(
            "running an ONNX model needs the 'onnxruntime' package; install it with: pip install 'vits-adapters[onnx]'"
        ) from err
    return onnxruntime


def load_onnx_session(path: str | os.PathLike[str], *, threads: int | None = None) -> Any:
    """An onnxruntime CPU ``InferenceSession`` for ``path``.

    Args:
        path: an ``.onnx`` file written by :func:`~vits_adapters.onnx.export.export_onnx`.
        threads: intra-op threads (default: onnxruntime's choice); inter-op parallelism is left off.

    Raises:
        MissingDependencyError: onnxruntime is not installed.
    """
    ort = _require_onnxruntime()
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(os.fspath(path), sess_options=options, providers=["CPUExecutionProvider"])


def onnx_metadata(session: Any) -> dict[str, str]:
    """The ``metadata_props`` of a session's model (sample rate, speakers, noise mode, default scales...)."""
    return dict(session.get_modelmeta().custom_metadata_map)


def run_onnx(
    session: Any,
    token_ids: Sequence[int],
    *,
    speaker_id: int | None = None,
    noise_scale: float = 0.667,
    length_scale: float = 1.0,
    noise_scale_w: float = 0.8,
    duration_noise: np.ndarray | None = None,
    prior_noise: np.ndarray | None = None,
) -> np.ndarray:
    """Synthesize one utterance; returns its 1-D float32 waveform.

    ``duration_noise`` ``[1, 2, len(token_ids)]`` and ``prior_noise`` ``[1, inter_channels, >= frames]`` are
    required by models exported with ``noise="inputs"`` and refused by the others (a deterministic duration predictor
    ignores ``duration_noise``).

    Raises:
        InvalidInputError: empty tokens, a speaker id the model cannot take, or noise inputs that do not fit.
    """
    names = {item.name for item in session.get_inputs()}
    metadata = onnx_metadata(session)
    if not token_ids:
        raise InvalidInputError("the token sequence is empty: nothing to synthesize")
    n_vocab = int(metadata.get("n_vocab", 0))
    bad = sorted({int(t) for t in token_ids if not 0 <= int(t) < n_vocab}) if n_vocab else []
    if bad:
        raise InvalidInputError(f"token id(s) {bad[:10]} are outside the vocabulary (0..{n_vocab - 1})")
    feeds: dict[str, np.ndarray] = {
        "token_ids": np.asarray([token_ids], dtype=np.int64),
        "token_lengths": np.asarray([len(token_ids)], dtype=np.int64),
        "noise_scale": np.asarray(noise_scale, dtype=np.float32),
        "length_scale": np.asarray(length_scale, dtype=np.float32),
        "noise_scale_w": np.asarray(noise_scale_w, dtype=np.float32),
    }
    if "speaker_ids" in names:
        speakers = int(metadata.get("n_speakers", 0))
        if speaker_id is None or (speakers and not 0 <= speaker_id < speakers):
            raise InvalidInputError(f"this model has {speakers} speakers: pass speaker_id in 0..{speakers - 1}")
        feeds["speaker_ids"] = np.asarray([speaker_id], dtype=np.int64)
    elif speaker_id is not None:
        raise InvalidInputError(f"this is a single-speaker model; do not pass speaker_id (got {speaker_id})")
    noise_mode = metadata.get("noise")
    for name, value in {"duration_noise": duration_noise, "prior_noise": prior_noise}.items():
        if (noise_mode == "inputs") != (value is not None):
            raise InvalidInputError(
                f"{name} is {'required' if noise_mode == 'inputs' else 'not accepted'} by this model "
                f"(exported with noise={noise_mode!r})"
            )
        if value is not None:
            feeds[name] = np.asarray(value, dtype=np.float32)
    # A deterministic duration predictor ignores noise_scale_w, so its export has no such input.
    waveform, lengths = session.run(None, {name: value for name, value in feeds.items() if name in names})
    return waveform[0, : int(lengths[0])]
