"""One benchmark measurement in a fresh process: ``python bench_worker.py '<json task>'`` prints one JSON line."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

_T0 = time.perf_counter()
import torch  # noqa: E402  (timed: the baseline every measurement sits on)

_TORCH_IMPORT_S = time.perf_counter() - _T0


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss() -> None:
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0), so the peak of the load alone is seen.
    Path("/proc/self/clear_refs").write_text("5")


def _load(impl: str, path: str, dtype: str = "fp32"):
    if impl == "ours":
        from vits_adapters import from_pretrained

        return from_pretrained(path, dtype=dtype)
    from transformers import VitsModel

    model = VitsModel.from_pretrained(path).eval()
    model.config.noise_scale_duration = 0.0
    return model


def _import(impl: str) -> None:
    if impl == "ours":
        import vits_adapters  # noqa: F401
    else:
        import transformers.models.vits.modeling_vits  # noqa: F401


def task_load(task: dict) -> dict:
    start = time.perf_counter()
    _import(task["impl"])
    import_s = time.perf_counter() - start
    _reset_peak_rss()
    baseline_kb = _status_kb("VmRSS")
    start = time.perf_counter()
    _load(task["impl"], task["path"])
    load_s = time.perf_counter() - start
    return {
        "torch_import_s": _TORCH_IMPORT_S,
        "import_s": import_s,
        "load_s": load_s,
        "baseline_mb": baseline_kb / 1024,
        "peak_above_baseline_mb": (_status_kb("VmHWM") - baseline_kb) / 1024,
    }


def _synthesizer(impl: str, model, ids: list[int], seed: int):
    if impl == "onnx":
        from vits_adapters.onnx.run import run_onnx

        return lambda: run_onnx(model, ids, noise_scale_w=0.0)
    if impl == "ours":
        return lambda: model.synthesize(token_ids=ids, seed=seed, noise_scale_w=0.0, check=False).waveform
    inputs = torch.tensor([ids])

    def run():
        torch.manual_seed(seed)
        with torch.inference_mode():
            return model(input_ids=inputs).waveform[0].float().numpy()

    return run


def _flops(run) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        run()
    return float(counter.get_total_flops())


def task_synth(task: dict) -> dict:
    torch.set_num_threads(task["threads"])
    if task["impl"] == "onnx":  # an .onnx file exported from the same weights (noise drawn in the graph)
        from vits_adapters.onnx.run import load_onnx_session

        model = load_onnx_session(task["path"], threads=task["threads"])
    else:
        model = _load(task["impl"], task["path"], task.get("dtype", "fp32"))
    run = _synthesizer(task["impl"], model, task["ids"], task["seed"])
    start = time.perf_counter()
    waveform = run()
    first_s = time.perf_counter() - start
    steady = []
    for _ in range(task["repeats"]):
        start = time.perf_counter()
        run()
        steady.append(time.perf_counter() - start)
    result = {"samples": int(waveform.shape[-1]), "first_s": first_s, "steady_s": statistics.median(steady)}
    if task.get("count_flops"):
        result["flops"] = _flops(run)
    if task.get("dtype", "fp32") != "fp32":
        import numpy as np

        reference = _synthesizer("ours", _load("ours", task["path"]), task["ids"], task["seed"])()
        result["snr_db"] = float(10 * np.log10(np.sum(reference**2) / np.sum((reference - waveform) ** 2)))
    return result


def task_first_audio(task: dict) -> dict:
    torch.set_num_threads(task["threads"])
    voice = _load("ours", task["path"])
    kwargs = {"token_ids": task["ids"], "seed": task["seed"], "noise_scale_w": 0.0}
    voice.synthesize(**kwargs, check=False)  # warm-up, so both figures are steady state
    firsts, fulls = [], []
    for _ in range(task["repeats"]):
        start = time.perf_counter()
        next(iter(voice.synthesize_stream(**kwargs, chunk_frames=task["chunk_frames"])))
        firsts.append(time.perf_counter() - start)
        start = time.perf_counter()
        audio = voice.synthesize(**kwargs, check=False)
        fulls.append(time.perf_counter() - start)
    return {"first_audio_s": statistics.median(firsts), "full_s": statistics.median(fulls), "audio_s": audio.duration}


def task_convert(task: dict) -> dict:
    from vits_adapters.cli.entry import main

    start = time.perf_counter()
    code = main(["--quiet", "convert", task["src"], task["out"], "--to", task["to"], "--overwrite"])
    seconds = time.perf_counter() - start
    if code != 0:
        raise RuntimeError(f"convert exited with {code}")
    return {"seconds": seconds, "source_bytes": Path(task["src"]).stat().st_size}


def task_peak(task: dict) -> dict:
    torch.set_num_threads(task["threads"])
    size = 2048
    result = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
        a @ b
        times = []
        for _ in range(5):
            start = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - start)
        result[f"{name}_gflops"] = 2 * size**3 / min(times) / 1e9
    return result


TASKS = {"load": task_load, "synth": task_synth, "first_audio": task_first_audio, "convert": task_convert,
         "peak": task_peak}

if __name__ == "__main__":
    payload = json.loads(sys.argv[1])
    print(json.dumps(TASKS[payload["task"]](payload)))
