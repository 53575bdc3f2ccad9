"""Seeded full-size benchmark checkpoints: an MMS-shaped transformers folder and an original-VITS ljs_base G_*.pth."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

# Frames per token the duration predictor is shifted to, so a token sequence of known length gives a known duration.
FRAMES_PER_TOKEN = 3.0


def _redraw_transformers(model: torch.nn.Module, seed: int) -> None:
    """Draw every parameter from a seeded generator at a scale that keeps activations of order one.

    transformers' own init zero-initialises parts of the flows; with those, durations sit on rounding edges and two
    implementations can disagree by a frame. Weight-norm magnitudes are set from their directions afterwards.
    """
    gen = torch.Generator().manual_seed(seed)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, param in params.items():
            if name.endswith(("original0", "weight_g")):
                continue
            noise = torch.randn(param.shape, generator=gen)
            if "norm" in name and name.endswith("weight"):
                param.copy_(1.0 + 0.05 * noise)
            elif param.ndim >= 2 and "emb_rel" not in name and "embed" not in name:
                fan_in = param[0].numel() if "upsampler" not in name else param.shape[0] * param.shape[2] / 4
                damp = 0.1 if "flows" in name and ("conv_proj" in name or "conv_post" in name) else 1.0
                param.copy_(noise * fan_in**-0.5 * damp)
            else:
                param.copy_(noise * (0.3 if "emb" in name else 0.02))
        for name, param in params.items():
            if name.endswith(("original0", "weight_g")):
                direction = params[name[:-1] + "1"] if name.endswith("original0") else params[name[:-1] + "v"]
                param.copy_(torch.norm_except_dim(direction, 2, 0))


def _shift_durations(model: torch.nn.Module, ids: list[int]) -> None:
    """Move the stochastic duration predictor's output so the mean duration is ``FRAMES_PER_TOKEN``."""
    captured = {}
    handle = model.duration_predictor.register_forward_hook(lambda m, i, o: captured.setdefault("log_w", o))
    try:
        with torch.no_grad():
            model(torch.tensor([ids]))
    finally:
        handle.remove()
    shift = math.log(FRAMES_PER_TOKEN) - captured["log_w"].mean().item()
    # The last reverse step is (y - translate) * exp(-log_scale), so moving translate moves every log-duration.
    flow = model.duration_predictor.flows[0]
    with torch.no_grad():
        flow.translate[0] -= shift * torch.exp(flow.log_scale[0])


def blank_separated_ids(n_symbols: int, vocab_size: int, seed: int) -> list[int]:
    """``n_symbols`` random ids with the blank 0 around and between them, as add_blank produces."""
    symbols = torch.randint(1, vocab_size, (n_symbols,), generator=torch.Generator().manual_seed(seed)).tolist()
    ids = [0]
    for symbol in symbols:
        ids += [symbol, 0]
    return ids


def write_mms_folder(folder: Path, *, seed: int, small: bool = False) -> Path:
    """A transformers ``VitsModel(VitsConfig())`` (MMS shape; ``small`` for a tiny smoke model), saved by itself."""
    from transformers import VitsConfig, VitsModel

    overrides = {"noise_scale_duration": 0.0}
    if small:
        overrides |= dict(hidden_size=32, ffn_dim=64, flow_size=16, spectrogram_bins=33, upsample_initial_channel=64,
                          num_hidden_layers=2, prior_encoder_num_wavenet_layers=2, duration_predictor_filter_channels=32,
                          posterior_encoder_num_wavenet_layers=2)
    torch.manual_seed(seed)  # transformers' init uses the global RNG; every parameter is redrawn below anyway
    model = VitsModel(VitsConfig(**overrides)).eval()
    _redraw_transformers(model, seed)
    _shift_durations(model, blank_separated_ids(40, model.config.vocab_size, seed))
    model.save_pretrained(folder)
    return folder


def write_original_checkpoint(folder: Path, *, seed: int, small: bool = False) -> tuple[Path, Path]:
    """An original-VITS ljs_base-shaped voice (``small``: the demo size) as ``G_*.pth`` + config.json, and the same
    weights in the transformers layout (``folder/transformers``) for transformers to load."""
    from vits_adapters.cli.demo import DEMO_HPARAMS, _in_memory_voice, build_random_generator
    from vits_adapters.arch.vits.hparams import VitsHParams

    voice = _in_memory_voice(build_random_generator(DEMO_HPARAMS if small else VitsHParams(), seed=seed), seed)
    written = voice.save_pretrained(folder, format="vits-original", weight_norm="legacy")
    transformers_dir = folder / "transformers"
    voice.save_pretrained(transformers_dir, format="transformers")
    (pth,) = [path for path in written if path.suffix == ".pth"]
    return pth, transformers_dir


def ensure_checkpoints(workdir: Path, *, seed: int, small: bool) -> dict[str, str]:
    """Create (once per workdir, seed and size) and return the benchmark's checkpoint paths."""
    root = workdir / f"{'tiny' if small else 'full'}-seed{seed}"
    manifest = root / "manifest.json"
    if manifest.exists():
        return json.loads(manifest.read_text())
    root.mkdir(parents=True, exist_ok=True)
    mms = write_mms_folder(root / "mms", seed=seed, small=small)
    pth, ljs_transformers = write_original_checkpoint(root / "ljs", seed=seed, small=small)
    paths = {"mms": str(mms), "ljs_pth": str(pth), "ljs_transformers": str(ljs_transformers)}
    manifest.write_text(json.dumps(paths, indent=2))
    return paths
