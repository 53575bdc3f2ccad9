"""Real-time factor of onnxruntime vs our PyTorch generator vs transformers' VitsModel on full-size MMS weights.

Run: ``python benchmarks/onnx_bench.py [--seconds 5] [--threads 2] [--repeats 5]``. The model is
``VitsModel(VitsConfig())`` (MMS-sized) with seeded random weights, converted with ``from_pretrained`` and exported
with ``export_onnx``. All three run the same token ids at the same scales; ``noise_scale_w`` is 0 so the durations,
and with them the audio length, are identical across the three (checked), while the prior noise is on as usual.
RTF = synthesis wall time / audio duration (median of ``repeats`` interleaved rounds after one warm-up run).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

NOISE_SCALE = 0.667


def _median_seconds(runs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median wall time per runtime; rounds interleave the runtimes so load from other processes hits all alike."""
    for run in runs.values():
        run()  # warm-up: allocator, oneDNN primitive caches, onnxruntime arena
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _build_transformers_model(folder: Path, seed: int) -> Any:
    from transformers import VitsConfig, VitsModel

    with torch.random.fork_rng():  # transformers' init draws from the global RNG; keep the caller's state
        torch.manual_seed(seed)
        model = VitsModel(VitsConfig()).eval()
    model.save_pretrained(folder)
    return model


def _tokens_for(voice: Any, seconds: float) -> list[int]:
    """Token ids (cycling through the vocabulary) whose zero-duration-noise synthesis lasts about ``seconds``."""
    n_vocab = voice.config.n_vocab
    probe = [1 + i % (n_vocab - 1) for i in range(64)]
    stages = voice.generator.infer(torch.tensor([probe]), noise_scale=0.0, noise_scale_w=0.0)
    per_token = float(stages.frame_lengths[0]) * voice.config.hop_length / voice.sample_rate / len(probe)
    count = max(1, round(seconds / per_token))
    return [1 + i % (n_vocab - 1) for i in range(count)]


def run_onnx_benchmark(*, seconds: float = 5.0, threads: int = 2, repeats: int = 5, seed: int = 0) -> dict[str, Any]:
    """Measure synthesis RTF of onnxruntime, our PyTorch generator and transformers' VitsModel.

    Returns a dict with ``audio_seconds``, ``tokens``, ``threads``, ``rtf`` (per runtime), ``ort_vs_transformers``
    (ratio of RTFs; the target is <= 0.67) and ``max_abs_diff_zero_noise`` (onnxruntime vs PyTorch).
    """
    from vits_adapters import from_pretrained
    from vits_adapters.onnx_export import export_onnx
    from vits_adapters.onnx_synth import load_onnx_session, run_onnx

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory(prefix="vits-onnx-bench-") as tmp:
            folder = Path(tmp)
            reference = _build_transformers_model(folder / "hf", seed)
            voice = from_pretrained(folder / "hf")
            onnx_path = export_onnx(voice, folder / "model.onnx")
            session = load_onnx_session(onnx_path, threads=threads)
            tokens = _tokens_for(voice, seconds)
            ids = torch.tensor([tokens])
            reference.noise_scale, reference.noise_scale_duration, reference.speaking_rate = NOISE_SCALE, 0.0, 1.0

            def run_ort() -> np.ndarray:
                return run_onnx(session, tokens, noise_scale=NOISE_SCALE, noise_scale_w=0.0)

            def run_ours() -> torch.Tensor:
                with torch.inference_mode():
                    return voice.generator.infer(ids, noise_scale=NOISE_SCALE, noise_scale_w=0.0).waveform

            def run_transformers() -> torch.Tensor:
                with torch.inference_mode():
                    return reference(input_ids=ids).waveform

            lengths = {"onnxruntime": run_ort().shape[-1], "pytorch": run_ours().shape[-1]}
            lengths["transformers"] = run_transformers().shape[-1]
            if len(set(lengths.values())) != 1:
                raise RuntimeError(f"the three runtimes disagree on the audio length: {lengths}")
            quiet = {"noise_scale": 0.0, "noise_scale_w": 0.0}
            expected = voice.generator.infer(ids, **quiet).waveform[0, 0].numpy()
            diff = float(np.max(np.abs(run_onnx(session, tokens, **quiet) - expected)))
            audio_seconds = lengths["pytorch"] / voice.sample_rate
            timings = _median_seconds(
                {"onnxruntime": run_ort, "pytorch": run_ours, "transformers": run_transformers}, repeats
            )
    finally:
        torch.set_num_threads(previous_threads)
    rtf = {name: t / audio_seconds for name, t in timings.items()}
    return {
        "audio_seconds": audio_seconds,
        "tokens": len(tokens),
        "threads": threads,
        "repeats": repeats,
        "parameters": sum(p.numel() for p in voice.generator.parameters()),
        "rtf": rtf,
        "ort_vs_transformers": rtf["onnxruntime"] / rtf["transformers"],
        "pytorch_vs_transformers": rtf["pytorch"] / rtf["transformers"],
        "max_abs_diff_zero_noise": diff,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="target audio length (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads for all three (default 2)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per runtime (default 5)")
    args = parser.parse_args()
    result = run_onnx_benchmark(seconds=args.seconds, threads=args.threads, repeats=args.repeats)
    print(
        f"full-size MMS-shaped VITS ({result['parameters']:,} generator parameters), {result['tokens']} tokens -> "
        f"{result['audio_seconds']:.2f} s of audio, {result['threads']} threads, median of {result['repeats']} runs"
    )
    for name, value in result["rtf"].items():
        print(f"  {name:<13} RTF {value:.3f}")
    print(f"  onnxruntime / transformers RTF: {result['ort_vs_transformers']:.2f} (target <= 0.67)")
    print(f"  our PyTorch / transformers RTF: {result['pytorch_vs_transformers']:.2f}")
    print(f"  onnxruntime vs PyTorch at zero noise: max abs diff {result['max_abs_diff_zero_noise']:.2e}")


if __name__ == "__main__":
    main()
