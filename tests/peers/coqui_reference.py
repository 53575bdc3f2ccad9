"""Independent reference peer: small, seeded Coqui-TTS ``Vits`` generators built from Coqui's own layers.

The ``coqui-tts`` wheel (the maintained fork of coqui-ai/TTS) ships the layer classes that its
``TTS.tts.models.vits.Vits`` composes.  This module *calls* those classes; it writes none of the
layer maths itself.  It assembles them exactly as ``Vits.__init__`` does (same attribute names,
same constructor arguments, same registration order), so the resulting ``state_dict`` has the
keys, shapes and order of a real Coqui checkpoint, including the discriminator ``disc.*`` that
Coqui's trainer saves alongside the generator.

Import workaround (the only one): ``TTS/__init__.py`` refuses to import unless torchaudio and,
for torch >= 2.9, torchcodec are installed.  Neither exists for torch 2.13 on this machine, and
neither is used by the VITS layers.  ``_register_coqui_package`` therefore registers the installed
``TTS`` package in ``sys.modules`` *without executing that one ``__init__.py``* (it holds only that
version gate); every other Coqui module, including the sub-package ``__init__`` files, is
imported and executed normally from the installed wheel.  ``coqui_vits_class`` additionally
imports Coqui's top-level ``Vits`` model, whose module does ``import torchaudio`` at the top
(for audio loading and resampling in training only): during that one import a placeholder
module stands in for torchaudio and raises on any attribute access, so any use of torchaudio
on a tested path would fail loudly instead of passing silently.

Why re-draw everything: Coqui zero-initialises the coupling-flow ``post`` convs, the spline
``ConvFlow.proj`` convs and ``ElementwiseAffine.translation/log_scale`` like the original
VITS, which makes every flow the identity and would hide bugs in flow code.  Here every
parameter is drawn from a seeded ``torch.Generator`` with scales that keep activations O(1),
the rational-quadratic splines well conditioned, and a typical token ~3 frames long.

Public API: ``CoquiCase``, ``CASES``, ``CoquiVits``, ``build_coqui``, ``coqui_infer``,
``coqui_checkpoint``, ``coqui_config``, ``state_dict_forms``, ``legacy_state_dict``,
``typical_token_ids``, ``coqui_vits_class``, ``WEIGHT_NORM_FORMS``, ``CONFIG_STYLES``,
``COQUI_VERSION`` (installed) and ``TESTED_COQUI_VERSION``.
"""

from __future__ import annotations

import copy
import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import math
import string
import sys
import types
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import nn
from torch.nn.utils import parametrize

__all__ = [
    "COQUI_VERSION",
    "CONFIG_STYLES",
    "TESTED_COQUI_VERSION",
    "CASES",
    "CoquiCase",
    "CoquiVits",
    "WEIGHT_NORM_FORMS",
    "build_coqui",
    "coqui_checkpoint",
    "coqui_config",
    "coqui_infer",
    "coqui_vits_class",
    "legacy_state_dict",
    "state_dict_forms",
    "typical_token_ids",
]

# The release this peer was written against and checked with (see tests/peers/README.md).
TESTED_COQUI_VERSION = "0.28.0"


# --------------------------------------------------------------------------------------
# importing Coqui's own code
# --------------------------------------------------------------------------------------


def _register_coqui_package() -> str:
    """Make ``import TTS.<submodule>`` work without running ``TTS/__init__.py``.

    That file only checks for torchaudio/torchcodec (and a conflicting ``coqpit``) and sets
    ``__version__``.  The package object is created from the installed package's own import
    spec, so its ``__path__`` is the installed ``TTS`` directory and every submodule is
    Coqui's file, executed normally.  Returns the installed coqui-tts version.
    """
    try:
        version = importlib.metadata.version("coqui-tts")
    except importlib.metadata.PackageNotFoundError as exc:
        raise ImportError(
            "the Coqui peer needs the coqui-tts package (see tests/peers/README.md)"
        ) from exc
    pkg = sys.modules.get("TTS")
    if pkg is None:
        spec = importlib.machinery.PathFinder.find_spec("TTS")
        if spec is None or spec.submodule_search_locations is None:
            raise ImportError("coqui-tts is installed but its TTS package was not found")
        pkg = importlib.util.module_from_spec(spec)  # NOT exec_module: skip the version gate
        pkg.__version__ = version
        sys.modules["TTS"] = pkg
    if not hasattr(pkg, "__path__"):
        raise ImportError(f"sys.modules['TTS'] is not the coqui-tts package: {pkg!r}")
    return version


COQUI_VERSION = _register_coqui_package()

from TTS.config.shared_configs import BaseAudioConfig  # noqa: E402
from TTS.tts.configs.shared_configs import CharactersConfig  # noqa: E402
from TTS.tts.configs.vits_config import VitsArgs, VitsConfig  # noqa: E402
from TTS.tts.layers.generic.normalization import LayerNorm, LayerNorm2  # noqa: E402
from TTS.tts.layers.glow_tts.duration_predictor import DurationPredictor  # noqa: E402
from TTS.tts.layers.glow_tts.transformer import RelativePositionMultiHeadAttention  # noqa: E402
from TTS.tts.layers.vits.discriminator import VitsDiscriminator  # noqa: E402
from TTS.tts.layers.vits.networks import (  # noqa: E402
    PosteriorEncoder,
    ResidualCouplingBlocks,
    TextEncoder,
)
from TTS.tts.layers.vits.stochastic_duration_predictor import (  # noqa: E402
    ElementwiseAffine,
    StochasticDurationPredictor,
)
from TTS.tts.utils.helpers import generate_path, sequence_mask  # noqa: E402
from TTS.vocoder.models.hifigan_generator import HifiganGenerator  # noqa: E402


class _TorchaudioPlaceholder(types.ModuleType):
    """Stands in for torchaudio while Coqui's ``vits`` module is imported; any use raises."""

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        raise RuntimeError(
            f"torchaudio.{name} was used, but torchaudio is not installed: the Coqui peer only "
            "supports code paths that do not need it"
        )


@contextmanager
def _torchaudio_for_import() -> Iterator[None]:
    """Provide a placeholder ``torchaudio`` in ``sys.modules`` for the duration of one import,
    unless the real one is importable.  The placeholder is removed again afterwards so that
    availability checks elsewhere (e.g. transformers') still see torchaudio as absent."""
    if importlib.util.find_spec("torchaudio") is not None or "torchaudio" in sys.modules:
        yield
        return
    placeholder = _TorchaudioPlaceholder("torchaudio")
    placeholder.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
    sys.modules["torchaudio"] = placeholder
    try:
        yield
    finally:
        if sys.modules.get("torchaudio") is placeholder:
            del sys.modules["torchaudio"]


def coqui_vits_class() -> type:
    """Coqui's real ``TTS.tts.models.vits.Vits`` class (imported with the torchaudio placeholder
    if torchaudio is absent).  Needs coqui-tts' full dependency set (trainer, librosa, ...)."""
    module = sys.modules.get("TTS.tts.models.vits")
    if module is None:
        with _torchaudio_for_import():
            module = importlib.import_module("TTS.tts.models.vits")
    return module.Vits


# --------------------------------------------------------------------------------------
# cases
# --------------------------------------------------------------------------------------

WEIGHT_NORM_FORMS = ("parametrized", "legacy")
CONFIG_STYLES = ("current", "legacy")

# Target for the calibrated duration predictor: mean exp(logw) over typical inputs.
_TARGET_FRAMES_PER_TOKEN = 3.0
_CALIBRATION_SEEDS = (101, 102, 103, 104)
_PUNCTUATIONS = "!'(),-.:;? "
_GRAPHEMES = string.ascii_lowercase + string.ascii_uppercase


@dataclass(frozen=True)
class CoquiCase:
    """One small Coqui VITS configuration.

    ``model_args`` holds ``VitsArgs`` fields (Coqui's real names) that differ from Coqui's
    defaults; ``speakers`` are the speaker names of a multi-speaker model (empty for a single
    speaker); ``fft_size`` fixes ``audio.fft_size``/``win_length`` and must give
    ``out_channels = fft_size // 2 + 1``.
    """

    name: str
    model_args: dict = field(hash=False)
    speakers: tuple[str, ...] = ()
    sample_rate: int = 22050
    fft_size: int = 1024

    @property
    def num_speakers(self) -> int:
        return len(self.speakers)

    def args(self) -> VitsArgs:
        """The full ``VitsArgs`` (Coqui defaults + ``model_args``)."""
        return VitsArgs(**copy.deepcopy(self.model_args))

    @property
    def hop_length(self) -> int:
        return math.prod(self.model_args.get("upsample_rates_decoder", VitsArgs().upsample_rates_decoder))


def _args(**overrides) -> dict:
    base = dict(
        num_chars=40,
        out_channels=513,
        hidden_channels=32,
        hidden_channels_ffn_text_encoder=64,
        num_heads_text_encoder=2,
        num_layers_text_encoder=2,
        kernel_size_text_encoder=3,
        num_layers_posterior_encoder=3,
        num_layers_flow=4,
        resblock_type_decoder="1",
        resblock_kernel_sizes_decoder=[3, 7, 11],
        resblock_dilation_sizes_decoder=[[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        upsample_rates_decoder=[8, 8, 2, 2],
        upsample_initial_channel_decoder=64,
        upsample_kernel_sizes_decoder=[16, 16, 4, 4],
        periods_multi_period_discriminator=[2],
        use_sdp=True,
        init_discriminator=True,
    )
    unknown = set(overrides) - set(VitsArgs.__dataclass_fields__)
    if unknown:
        raise KeyError(f"not VitsArgs fields: {sorted(unknown)}")
    base.update(overrides)
    return base


CASES: dict[str, CoquiCase] = {
    # LJSpeech-like: single speaker, stochastic duration predictor, ResBlock1, discriminator saved.
    "single": CoquiCase("single", _args()),
    # VCTK-like: speaker embedding (emb_g) conditions the DP, flow, posterior encoder and
    # decoder; inference-only checkpoint (init_discriminator False: no disc.*).
    "multi": CoquiCase(
        "multi",
        _args(
            num_chars=42,
            out_channels=257,
            hidden_channels=48,
            use_speaker_embedding=True,
            speaker_embedding_channels=16,
            init_discriminator=False,
        ),
        speakers=("spk_a", "spk_b", "spk_c"),
        fft_size=512,
    ),
    # Deterministic duration predictor; discriminator with the scale sub-discriminator only.
    "nosdp": CoquiCase("nosdp", _args(num_chars=38, use_sdp=False, periods_multi_period_discriminator=[])),
    # ResBlock2 decoder with three upsample stages; spectral-norm discriminator
    # (its weight_orig / weight_u / weight_v keys look like weight norm but are not).
    "resblock2": CoquiCase(
        "resblock2",
        _args(
            resblock_type_decoder="2",
            resblock_kernel_sizes_decoder=[3, 5, 7],
            resblock_dilation_sizes_decoder=[[1, 2], [2, 6], [3, 12]],
            upsample_rates_decoder=[8, 8, 4],
            upsample_kernel_sizes_decoder=[16, 16, 8],
            periods_multi_period_discriminator=[],
            use_spectral_norm_disriminator=True,
        ),
        sample_rate=16000,
    ),
}


# --------------------------------------------------------------------------------------
# the model: Coqui's layers, composed as Vits.__init__ composes them
# --------------------------------------------------------------------------------------


class CoquiVits(nn.Module):
    """Coqui's VITS submodules under the attribute names of ``TTS.tts.models.vits.Vits``.

    Registration order follows ``Vits.__init__`` (``emb_g`` is created in
    ``init_multispeaker`` before the text encoder), so ``state_dict()`` has the same key order.
    Language embeddings, d-vectors and ``encoder_sample_rate`` are not supported.
    """

    def __init__(self, case: CoquiCase):
        super().__init__()
        a = case.args()
        if a.use_language_embedding or a.use_d_vector_file or a.encoder_sample_rate:
            raise ValueError("language embeddings, d-vectors and encoder_sample_rate are not supported")
        if a.use_speaker_embedding != (case.num_speakers > 0):
            raise ValueError("use_speaker_embedding must be set exactly when there are speakers")
        self.case = case
        self.use_sdp = bool(a.use_sdp)
        self.condition_dp_on_speaker = bool(a.condition_dp_on_speaker)
        self.num_speakers = case.num_speakers
        self.embedded_speaker_dim = 0
        if case.num_speakers > 0:  # Vits._init_speaker_embedding
            self.embedded_speaker_dim = a.speaker_embedding_channels
            self.emb_g = nn.Embedding(case.num_speakers, self.embedded_speaker_dim)
        self.text_encoder = TextEncoder(
            a.num_chars,
            a.hidden_channels,
            a.hidden_channels,
            a.hidden_channels_ffn_text_encoder,
            a.num_heads_text_encoder,
            a.num_layers_text_encoder,
            a.kernel_size_text_encoder,
            a.dropout_p_text_encoder,
            language_emb_dim=0,
        )
        self.posterior_encoder = PosteriorEncoder(
            a.out_channels,
            a.hidden_channels,
            a.hidden_channels,
            kernel_size=a.kernel_size_posterior_encoder,
            dilation_rate=a.dilation_rate_posterior_encoder,
            num_layers=a.num_layers_posterior_encoder,
            cond_channels=self.embedded_speaker_dim,
        )
        self.flow = ResidualCouplingBlocks(
            a.hidden_channels,
            a.hidden_channels,
            kernel_size=a.kernel_size_flow,
            dilation_rate=a.dilation_rate_flow,
            num_layers=a.num_layers_flow,
            cond_channels=self.embedded_speaker_dim,
        )
        if a.use_sdp:  # filter 192, kernel 3 and 4 flows are fixed in Vits.__init__
            self.duration_predictor = StochasticDurationPredictor(
                a.hidden_channels,
                192,
                3,
                a.dropout_p_duration_predictor,
                4,
                cond_channels=self.embedded_speaker_dim if a.condition_dp_on_speaker else 0,
                language_emb_dim=0,
            )
        else:  # filter 256 and kernel 3 are fixed; cond exists whenever there are speakers
            self.duration_predictor = DurationPredictor(
                a.hidden_channels,
                256,
                3,
                a.dropout_p_duration_predictor,
                cond_channels=self.embedded_speaker_dim,
                language_emb_dim=0,
            )
        self.waveform_decoder = HifiganGenerator(
            a.hidden_channels,
            1,
            a.resblock_type_decoder,
            a.resblock_dilation_sizes_decoder,
            a.resblock_kernel_sizes_decoder,
            a.upsample_kernel_sizes_decoder,
            a.upsample_initial_channel_decoder,
            a.upsample_rates_decoder,
            inference_padding=0,
            cond_channels=self.embedded_speaker_dim,
            conv_pre_weight_norm=False,
            conv_post_weight_norm=False,
            conv_post_bias=False,
        )
        if a.init_discriminator:
            self.disc = VitsDiscriminator(
                periods=a.periods_multi_period_discriminator,
                use_spectral_norm=a.use_spectral_norm_disriminator,
            )


# --------------------------------------------------------------------------------------
# seeded re-draw
# --------------------------------------------------------------------------------------


def _normal(shape, std: float, gen: torch.Generator, mean: float = 0.0) -> torch.Tensor:
    return torch.randn(shape, generator=gen) * std + mean


def _fan_in(module: nn.Module, shape: torch.Size) -> float:
    if isinstance(module, nn.ConvTranspose1d):
        # weight [in, out, k]: each output sample sees in * k / stride taps
        return shape[0] * shape[2] / module.stride[0]
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        return math.prod(shape[1:])
    raise TypeError(f"no fan-in rule for {type(module).__name__}")


def _weight_std(name: str, module: nn.Module, shape: torch.Size, use_sdp: bool) -> float:
    """Std of a conv weight (or of weight-norm ``v``) of the module called ``name``."""
    parts = name.split(".")
    base = 1.0 / math.sqrt(_fan_in(module, shape))
    if parts[0] == "duration_predictor":
        if use_sdp and name in ("duration_predictor.proj", "duration_predictor.post_proj"):
            return 0.05  # conditioning projection of the SDP
        if use_sdp and parts[1] in ("flows", "post_flows") and parts[-1] == "proj":
            return 0.05  # spline parameters: keep the splines well conditioned
        if not use_sdp and name == "duration_predictor.proj":
            return 0.3 * base  # modest spread of logw across tokens
    if parts[0] == "flow" and parts[-1] == "post":
        return 0.5 * base  # coupling mean: clearly non-identity flows
    if name == "waveform_decoder.conv_post":
        return 0.5 * base  # keep the final tanh mostly out of saturation
    return base


def _redraw(model: CoquiVits, gen: torch.Generator) -> None:
    """Re-draw EVERY parameter (and the spectral-norm buffers) of ``model`` from ``gen``;
    raises if a parameter is left untouched."""
    seen: set[int] = set()

    def put(t: torch.Tensor, value: torch.Tensor) -> None:
        t.copy_(value)
        seen.add(id(t))

    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d, nn.Conv2d)):
                if parametrize.is_parametrized(module, "weight"):  # weight norm: g, v
                    plist = module.parametrizations.weight
                    g, v = plist.original0, plist.original1
                    std = _weight_std(name, module, v.shape, model.use_sdp)
                    put(v, _normal(v.shape, std, gen))
                    norm = torch.norm_except_dim(v, 2, plist[0].dim)
                    put(g, norm.reshape(g.shape) * (0.5 + torch.rand(g.shape, generator=gen)))
                elif hasattr(module, "weight_orig"):  # spectral norm (discriminator only)
                    w = module.weight_orig
                    put(w, _normal(w.shape, _weight_std(name, module, w.shape, model.use_sdp), gen))
                    u = torch.randn(module.weight_u.shape, generator=gen)
                    module.weight_u.copy_(u / u.norm())
                    vv = torch.randn(module.weight_v.shape, generator=gen)
                    module.weight_v.copy_(vv / vv.norm())
                else:
                    w = module.weight
                    put(w, _normal(w.shape, _weight_std(name, module, w.shape, model.use_sdp), gen))
                if module.bias is not None:
                    put(module.bias, _normal(module.bias.shape, 0.05, gen))
                if name in ("text_encoder.proj", "posterior_encoder.proj"):
                    # rows [C:] give logs: keep exp(logs) moderate for noisy inference
                    half = module.out_channels // 2
                    module.weight[half:] *= 0.3
                    module.bias[half:] *= 0.3
            elif isinstance(module, nn.Embedding):
                # text embedding is scaled by sqrt(hidden) in the forward; speakers should
                # differ clearly through the conditioning convs
                std = module.embedding_dim**-0.5 if name == "text_encoder.emb" else 1.0
                put(module.weight, _normal(module.weight.shape, std, gen))
            elif isinstance(module, (LayerNorm, LayerNorm2)):
                put(module.gamma, _normal(module.gamma.shape, 0.1, gen, mean=1.0))
                put(module.beta, _normal(module.beta.shape, 0.05, gen))
            elif isinstance(module, RelativePositionMultiHeadAttention):
                for p in (module.emb_rel_k, module.emb_rel_v):
                    put(p, _normal(p.shape, 0.3, gen))
            elif isinstance(module, ElementwiseAffine):
                put(module.translation, _normal(module.translation.shape, 0.1, gen))
                put(module.log_scale, _normal(module.log_scale.shape, 0.1, gen))
    missing = [n for n, p in model.named_parameters() if id(p) not in seen]
    if missing:
        raise AssertionError(f"parameters not re-drawn: {missing}")


# --------------------------------------------------------------------------------------
# inference (Vits.inference, stage by stage)
# --------------------------------------------------------------------------------------


def typical_token_ids(case: CoquiCase, seed: int, n_symbols: int = 8) -> list[int]:
    """A seeded 'typical' utterance as Coqui's tokenizer emits it with ``add_blank``:
    ``n_symbols`` ids in [1, num_chars - 1) interspersed with the blank id ``num_chars - 1``
    (``VitsCharacters`` puts the pad at 0 and ``<BLNK>`` last), ``2 * n_symbols + 1`` ids."""
    num_chars = case.model_args["num_chars"]
    gen = torch.Generator().manual_seed(int(seed))
    ids = torch.randint(1, num_chars - 1, (n_symbols,), generator=gen).tolist()
    out = [num_chars - 1] * (2 * n_symbols + 1)
    out[1::2] = ids
    return out


def _speaker_ids(model: CoquiVits) -> list[int | None]:
    return list(range(model.num_speakers)) if model.num_speakers > 0 else [None]


def _text_and_logw(model: CoquiVits, token_ids, speaker_id, noise_scale_dp: float):
    x_ids = torch.tensor([list(token_ids)], dtype=torch.long)
    x_lengths = torch.tensor([len(token_ids)], dtype=torch.long)
    g = None
    if model.num_speakers > 0:  # Vits._get_speaker_conditioning(normalize_embedding=False)
        g = model.emb_g(torch.tensor([speaker_id])).unsqueeze(-1)
    x, m_p, logs_p, x_mask = model.text_encoder(x_ids, x_lengths, lang_emb=None)
    g_dp = g if model.condition_dp_on_speaker else None
    if model.use_sdp:
        logw = model.duration_predictor(
            x, x_mask, g=g_dp, reverse=True, noise_scale=noise_scale_dp, lang_emb=None
        )
    else:
        logw = model.duration_predictor(x, x_mask, g=g_dp, lang_emb=None)
    return x, m_p, logs_p, x_mask, g, logw


def coqui_infer(
    model: CoquiVits,
    token_ids: list[int],
    speaker_id: int | None = None,
    length_scale: float = 1.0,
    *,
    noise_scale: float = 0.0,
    noise_scale_dp: float = 0.0,
) -> dict[str, torch.Tensor]:
    """Run Coqui's inference path (batch of one) and return every stage output.

    Calls the model's Coqui submodules in exactly the order of ``Vits.inference`` (same
    global-RNG draws too, so with equal ``torch.manual_seed`` the noisy path matches the real
    ``Vits.inference`` with ``inference_noise_scale=noise_scale`` and
    ``inference_noise_scale_dp=noise_scale_dp``).  Noise scales default to 0.

    Keys: ``x``, ``m_p``, ``logs_p``, ``x_mask`` (text encoder outputs, token rate; ``x`` is
    the hidden state); ``logw``; ``w`` (= exp(logw) * x_mask * length_scale); ``w_ceil``;
    ``y_lengths``; ``y_mask``; ``attn`` (Coqui's path, [1, T_x, T_y]); ``m_p_exp`` /
    ``logs_p_exp`` (frame rate; Coqui returns these as its "m_p" / "logs_p"); ``z_p``; ``z``
    (flow reverse output); ``o`` (waveform [1, 1, T]); and ``g`` ([1, C, 1]) for
    multi-speaker models only.
    """
    multi = model.num_speakers > 0
    if multi and speaker_id is None:
        raise ValueError("multi-speaker model needs speaker_id")
    if not multi and speaker_id is not None:
        raise ValueError("single-speaker model takes no speaker_id")
    if len(token_ids) == 0:
        raise ValueError("token_ids is empty")
    with torch.no_grad():
        x, m_p, logs_p, x_mask, g, logw = _text_and_logw(model, token_ids, speaker_id, noise_scale_dp)
        w = torch.exp(logw) * x_mask * length_scale
        w_ceil = torch.ceil(w)
        y_lengths = torch.clamp_min(torch.sum(w_ceil, [1, 2]), 1).long()
        y_mask = sequence_mask(y_lengths, None).to(x_mask.dtype).unsqueeze(1)
        attn_mask = x_mask * y_mask.transpose(1, 2)
        attn = generate_path(w_ceil.squeeze(1), attn_mask.squeeze(1).transpose(1, 2))
        m_p_exp = torch.matmul(attn.transpose(1, 2), m_p.transpose(1, 2)).transpose(1, 2)
        logs_p_exp = torch.matmul(attn.transpose(1, 2), logs_p.transpose(1, 2)).transpose(1, 2)
        z_p = m_p_exp + torch.randn_like(m_p_exp) * torch.exp(logs_p_exp) * noise_scale
        z = model.flow(z_p, y_mask, g=g, reverse=True)
        o = model.waveform_decoder(z * y_mask, g=g)
    out = {
        "x": x,
        "m_p": m_p,
        "logs_p": logs_p,
        "x_mask": x_mask,
        "logw": logw,
        "w": w,
        "w_ceil": w_ceil,
        "y_lengths": y_lengths,
        "y_mask": y_mask,
        "attn": attn,
        "m_p_exp": m_p_exp,
        "logs_p_exp": logs_p_exp,
        "z_p": z_p,
        "z": z,
        "o": o,
    }
    if g is not None:
        out["g"] = g
    return out


def _calibrate_durations(model: CoquiVits, case: CoquiCase) -> None:
    """Shift the duration predictor so the mean exp(logw) on typical inputs is ~3 frames.

    Deterministic DP: add to the final ``proj`` bias.  SDP: the last op of the reverse chain
    is ``ElementwiseAffine`` (``duration_predictor.flows.0``):
    ``logw = (z - translation) * exp(-log_scale)``, so shifting ``translation[0]`` by
    ``-delta * exp(log_scale[0])`` shifts logw by exactly ``delta``.
    """
    vals = []
    with torch.no_grad():
        for seed in _CALIBRATION_SEEDS:
            ids = typical_token_ids(case, seed)
            for sid in _speaker_ids(model):
                *_, logw = _text_and_logw(model, ids, sid, 0.0)
                vals.append(logw.flatten())
        delta = math.log(_TARGET_FRAMES_PER_TOKEN) - torch.cat(vals).mean().item()
        if model.use_sdp:
            ea = model.duration_predictor.flows[0]
            ea.translation[0] -= delta * torch.exp(ea.log_scale[0])
        else:
            model.duration_predictor.proj.bias += delta


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------


def build_coqui(case: CoquiCase, seed: int = 0) -> CoquiVits:
    """``CoquiVits`` for ``case`` in eval mode, every parameter drawn from a ``torch.Generator``
    seeded with ``seed``; the global torch RNG is left untouched."""
    gen = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng(devices=[]):
        model = CoquiVits(case)
        model.eval()
        _redraw(model, gen)
        _calibrate_durations(model, case)  # the SDP reverse path draws from the global RNG
    return model


def _characters(num_chars: int) -> CharactersConfig:
    """A ``VitsCharacters`` set whose vocabulary ([pad, *punctuations, *characters, blank])
    has exactly ``num_chars`` symbols, so Coqui's tokenizer agrees with ``num_chars``."""
    n_graphemes = num_chars - 2 - len(_PUNCTUATIONS)
    if not 1 <= n_graphemes <= len(_GRAPHEMES):
        raise ValueError(f"num_chars {num_chars} out of range")
    return CharactersConfig(
        characters_class="TTS.tts.models.vits.VitsCharacters",
        pad="<PAD>",
        eos=None,
        bos=None,
        blank="<BLNK>",
        characters="".join(sorted(_GRAPHEMES[:n_graphemes])),
        punctuations=_PUNCTUATIONS,
        phonemes=None,
        is_unique=False,
        is_sorted=True,
    )


# Fields of coqui-tts <= 0.27's VitsAudioConfig (the "audio" section of older configs).
_LEGACY_AUDIO_FIELDS = ("fft_size", "sample_rate", "win_length", "hop_length", "num_mels", "mel_fmin", "mel_fmax")


def coqui_config(case: CoquiCase, style: str = "current") -> dict:
    """The config dict of a Coqui VITS checkpoint for ``case``.

    ``"current"``: ``VitsConfig(...).to_dict()`` from the installed coqui-tts (0.28): speakers
    are listed by name in ``speakers`` and there is no ``num_speakers``; ``languages`` is
    ``["en"]`` (what Coqui itself falls back to); ``audio`` is a ``BaseAudioConfig``.  ``"legacy"``: the same values in the layout of coqui-tts <= 0.27 and
    coqui-ai TTS (field names read from coqui-tts 0.27.5): ``num_speakers`` in ``model_args``
    and at the top level, no ``speakers``/``languages`` lists, ``use_language_embedding`` and
    ``language_ids_file`` also at the top level, and ``audio`` reduced to the
    ``VitsAudioConfig`` fields.
    """
    if style not in CONFIG_STYLES:
        raise ValueError(f"unknown config style {style!r}; expected one of {CONFIG_STYLES}")
    args = case.args()
    if args.out_channels != case.fft_size // 2 + 1:
        raise ValueError("out_channels must be fft_size // 2 + 1")
    audio = BaseAudioConfig(
        sample_rate=case.sample_rate,
        hop_length=case.hop_length,
        fft_size=case.fft_size,
        win_length=case.fft_size,
        num_mels=80,
        mel_fmin=0.0,
        mel_fmax=None,
    )
    cfg = VitsConfig(
        model_args=args,
        audio=audio,
        characters=_characters(args.num_chars),
        speakers=list(case.speakers),
        languages=["en"],
        use_phonemes=False,
        add_blank=True,
        text_cleaner="basic_cleaners",
        run_name=f"vits_{case.name}",
    ).to_dict()
    if style == "legacy":
        cfg.pop("speakers", None)
        cfg.pop("languages", None)
        cfg["model_args"]["num_speakers"] = case.num_speakers
        cfg["num_speakers"] = case.num_speakers
        cfg["use_language_embedding"] = cfg["model_args"]["use_language_embedding"]
        cfg["language_ids_file"] = cfg["model_args"]["language_ids_file"]
        cfg["audio"] = {k: cfg["audio"][k] for k in _LEGACY_AUDIO_FIELDS}
    return cfg


def legacy_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename parametrized weight norm to the legacy hook layout of coqui-ai TTS <= 0.19:
    ``M.parametrizations.weight.original0`` -> ``M.weight_g`` and ``...original1`` ->
    ``M.weight_v``.  Every other key (spectral norm's ``weight_orig/_u/_v`` included) is
    unchanged; tensors are detached clones."""
    out = {}
    for k, v in state_dict.items():
        if k.endswith(".parametrizations.weight.original0"):
            k = k[: -len("parametrizations.weight.original0")] + "weight_g"
        elif k.endswith(".parametrizations.weight.original1"):
            k = k[: -len("parametrizations.weight.original1")] + "weight_v"
        out[k] = v.detach().clone()
    return out


def state_dict_forms(model: CoquiVits) -> dict[str, dict[str, torch.Tensor]]:
    """The SAME weights of ``model`` in each weight-norm layout Coqui has saved.

    Weight-normed modules: the WaveNet layers ``posterior_encoder.enc.*`` and
    ``flow.flows.*.enc.*`` (``in_layers.i``, ``res_skip_layers.i``, ``cond_layer``), the
    decoder's ``waveform_decoder.ups.i`` and ``waveform_decoder.resblocks.j.convs1/convs2.k``
    (ResBlock1) or ``.convs.k`` (ResBlock2), and every discriminator conv (unless it uses
    spectral norm).  ``waveform_decoder.conv_pre``/``conv_post`` are plain.

    * ``"parametrized"``: ``model.state_dict()``, coqui-ai TTS >= 0.20 and coqui-tts:
      ``M.parametrizations.weight.original0`` (g) / ``.original1`` (v).
    * ``"legacy"``: the same tensors as ``M.weight_g`` / ``M.weight_v`` (coqui-ai TTS <= 0.19,
      i.e. the older released Coqui models).
    """
    param = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return {"parametrized": param, "legacy": legacy_state_dict(param)}


def _optimizer_and_scheduler_state() -> tuple[dict, dict]:
    """Real ``state_dict()``s of the optimizer and scheduler Coqui's VITS recipe uses (AdamW
    with ``VitsConfig.optimizer_params`` and ``lr_gen``, ExponentialLR with gamma 0.999875),
    after two steps on a stand-in 4-element parameter with a constant gradient."""
    p = nn.Parameter(torch.zeros(4))
    opt = torch.optim.AdamW([p], lr=2e-4, betas=(0.8, 0.99), eps=1e-9, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.999875)
    for _ in range(2):
        p.grad = torch.full_like(p, 1e-3)
        opt.step()
        sched.step()
    return opt.state_dict(), sched.state_dict()


def coqui_checkpoint(
    model: CoquiVits,
    case: CoquiCase,
    *,
    form: str = "parametrized",
    config_style: str = "current",
) -> dict:
    """The dict Coqui's trainer saves as ``checkpoint_<step>.pth`` / ``best_model.pth``
    (``trainer.io.save_model`` of coqui-tts-trainer): ``config`` (``coqui_config``), ``model``
    (the full state dict including ``disc.*``, in weight-norm ``form``), ``optimizer`` and
    ``scheduler`` (one entry each for generator and discriminator), ``scaler`` None,
    ``step`` 100, ``epoch`` 2, ``date`` and ``model_loss``."""
    if form not in WEIGHT_NORM_FORMS:
        raise ValueError(f"unknown form {form!r}; expected one of {WEIGHT_NORM_FORMS}")
    opt_gen, sched_gen = _optimizer_and_scheduler_state()
    opt_disc, sched_disc = _optimizer_and_scheduler_state()
    return {
        "config": coqui_config(case, config_style),
        "model": state_dict_forms(model)[form],
        "optimizer": [opt_gen, opt_disc],
        "scheduler": [sched_gen, sched_disc],
        "scaler": None,
        "step": 100,
        "epoch": 2,
        "date": "January 05, 2026",
        "model_loss": {"train_loss": 31.5, "eval_loss": None},
    }
