"""Run the whole load path offline on a seeded random-weight VITS voice published to a local Hub cache."""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..audio.waveform import AudioCheck, check_audio
from ..hub.local_cache import publish_to_local_cache
from ..arch.vits.hparams import VitsHParams
from ..arch.vits.generator import VitsGenerator
from ..pretrained import from_pretrained
from ..mapping.registry import get_format
from ..report import LoadReport
from ..audio.spectrogram import write_spectrogram_png
from ..text.frontend import TextFrontend
from ..voice import Voice

logger = logging.getLogger(__name__)

DEMO_REPO_ID = "vits-adapters/demo-random-vits"
DEMO_TEXT = "hello world, this is vits adapters."
RANDOM_WEIGHTS_NOTICE = (
    "The demo voice has RANDOM weights (no training), so its audio is noise, not speech. "
    "What the demo proves is the load path, end to end: a checkpoint in the original VITS trainer layout "
    "(legacy weight norm), published to a local Hugging Face Hub cache, resolved by repo id offline, "
    "converted, loaded strictly with every tensor accounted for, and synthesized from text."
)

# Small enough to build, save, load and synthesize in a second or two; the sizes the original trainer hard-codes
# (flows, posterior encoder, duration predictor) keep their defaults so the original layout can express the model.
DEMO_HPARAMS = VitsHParams(
    n_vocab=178,  # the original VITS symbol table
    spec_channels=129,
    inter_channels=32,
    hidden_channels=64,
    filter_channels=128,
    n_heads=2,
    n_layers=2,
    resblock="1",
    resblock_kernel_sizes=(3, 7, 11),
    resblock_dilation_sizes=((1, 3, 5),) * 3,
    upsample_rates=(8, 8, 4),
    upsample_initial_channel=128,
    upsample_kernel_sizes=(16, 16, 8),
    use_sdp=True,
    sampling_rate=16000,
)
# The original VITS symbol table, named explicitly: only the original layout implies it without saying so.
TEXT_SETTINGS = TextFrontend.original_vits(cleaners=("basic_cleaners",), add_blank=True).to_dict()
_BIAS_SCALE = 0.02
_NORM_SCALE = 0.05
_OTHER_SCALE = 0.1
# The original trainer zero-initializes these projections so every flow starts as the identity; near-zero values
# keep that property, which keeps predicted durations (and so the demo's length and run time) moderate.
_NEAR_IDENTITY = re.compile(r"duration_predictor\.(?:post_)?flows\.\d+\.conv_proj|flow\.flows\.\d+\.conv_post")
_NEAR_IDENTITY_SCALE = 0.01


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` wrote and measured."""

    workdir: Path
    hub_cache: Path
    snapshot: Path
    wav: Path
    png: Path
    repo_id: str
    text: str
    seed: int
    report: LoadReport
    check: AudioCheck


def _draw(module: nn.Module, name: str, param: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """A random value for one parameter, scaled so activations stay of order one."""
    noise = torch.randn(param.shape, generator=rng, dtype=param.dtype)
    if isinstance(module, nn.LayerNorm):
        return (1.0 if name == "weight" else 0.0) + _NORM_SCALE * noise
    if name == "bias":
        return _BIAS_SCALE * noise
    if isinstance(module, nn.Embedding):
        # The text encoder multiplies embeddings by sqrt(hidden), so this gives unit-scale inputs.
        return noise * param.shape[1] ** -0.5
    if isinstance(module, nn.ConvTranspose1d):
        # Each output sample of a strided transposed conv sees in_channels * kernel / stride inputs.
        in_channels, _, kernel = param.shape
        return noise * (in_channels * kernel / module.stride[0]) ** -0.5
    if isinstance(module, nn.Conv1d):
        return noise * param[0].numel() ** -0.5
    if name.startswith("emb_rel_"):
        return noise * param.shape[-1] ** -0.5
    return _OTHER_SCALE * noise


def build_random_generator(hparams: VitsHParams = DEMO_HPARAMS, *, seed: int = 0) -> VitsGenerator:
    """A VITS generator whose every parameter is drawn from ``torch.Generator().manual_seed(seed)``.

    Args:
        hparams: the model's hyperparameters (default: the small demo model).
        seed: the seed of the private generator; torch's global RNG is never touched.

    Returns:
        A generator in eval mode with plain (folded) weights.
    """
    rng = torch.Generator().manual_seed(seed)
    with torch.device("meta"):  # skip torch's default init, which would draw from the global RNG
        generator = VitsGenerator(hparams, weight_norm_dims=get_format("vits-adapters").weight_norm_dims)
    # The generator holds parameters only (no buffers), so filling every parameter leaves nothing uninitialized.
    generator.to_empty(device="cpu")
    with torch.no_grad():
        for path, module in generator.named_modules():
            for name, param in module.named_parameters(recurse=False):
                value = _draw(module, name, param, rng)
                param.copy_(value * _NEAR_IDENTITY_SCALE if _NEAR_IDENTITY.fullmatch(path) else value)
    return generator.eval()


def _in_memory_voice(generator: VitsGenerator, seed: int) -> Voice:
    report = LoadReport(
        format="in-memory",
        source=f"built in memory: random weights (seed {seed})",
        records=(),
        target_count=len(generator.state_dict()),
        weight_norm=generator.weight_norm,
    )
    return Voice(generator=generator, report=report, text_settings=dict(TEXT_SETTINGS))


def run_demo(workdir: Path, *, seed: int = 0, quiet: bool = False) -> DemoResult:
    """Build, save, publish, load back and synthesize a random-weight VITS voice, offline.

    Writes ``workdir/hub-cache`` (a Hub cache holding ``vits-adapters/demo-random-vits``), ``workdir/demo.wav``
    and ``workdir/demo.png`` (its spectrogram). The weights are random, so the audio is noise, not speech.

    Args:
        workdir: the folder to write into (created if missing).
        seed: seeds the weights and the synthesis noise.
        quiet: log the steps at DEBUG instead of INFO.

    Returns:
        A :class:`DemoResult` with the paths written, the load report and the audio check.

    Raises:
        VitsAdapterError: any step of the load path failed (this is what the demo exists to catch).
    """
    level = logging.DEBUG if quiet else logging.INFO
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    hub_cache = workdir / "hub-cache"

    logger.log(level, "building a random-weight VITS generator (seed %d)", seed)
    voice = _in_memory_voice(build_random_generator(seed=seed), seed)
    with tempfile.TemporaryDirectory(prefix="vits-adapters-demo-") as staging:
        written = voice.save_pretrained(staging, format="vits-original", weight_norm="legacy")
        snapshot = publish_to_local_cache(hub_cache, DEMO_REPO_ID, {path.name: path for path in written})
    logger.log(level, "published %s to %s", DEMO_REPO_ID, hub_cache)

    loaded = from_pretrained(DEMO_REPO_ID, cache_dir=hub_cache, local_files_only=True)
    logger.log(level, "loaded %s back as format %s", DEMO_REPO_ID, loaded.report.format)
    audio = loaded.synthesize(DEMO_TEXT, seed=seed)
    wav = audio.save(workdir / "demo.wav", overwrite=True)  # the demo's own scratch folder
    png = write_spectrogram_png(audio.waveform, workdir / "demo.png")
    logger.log(level, "wrote %s and %s", wav, png)
    return DemoResult(
        workdir=workdir,
        hub_cache=hub_cache,
        snapshot=snapshot,
        wav=wav,
        png=png,
        repo_id=DEMO_REPO_ID,
        text=DEMO_TEXT,
        seed=seed,
        report=loaded.report,
        check=check_audio(audio),
    )
