"""Independent reference peer: small, seeded ORIGINAL-VITS-layout generators built with Piper.

The ``piper-tts`` wheel ships Piper's VITS training code (``piper.train.vits``), an
implementation of ``SynthesizerTrn`` that keeps the original VITS module names and uses the
legacy ``torch.nn.utils.weight_norm`` hook (``weight_g`` / ``weight_v`` parameters).  This
module only *calls* that code; it builds tiny models from it whose every parameter is
re-drawn from a seeded ``torch.Generator`` so that our own reimplementation can be checked
for exact equivalence against it, stage by stage.

Why re-draw everything: upstream zero-initialises the coupling-flow ``post`` convs, the
``ConvFlow.proj`` convs and ``ElementwiseAffine.m/logs``, which makes every flow the identity
and would hide bugs in the flow code.  Here all of them are non-trivial, with scales chosen so
that activations stay O(1), the rational-quadratic splines stay well conditioned, and the
duration predictor yields a few frames per token.

Public API: ``PeerCase``, ``CASES``, ``build_peer``, ``original_checkpoint``,
``original_config``, ``peer_infer``, ``state_dict_forms``, plus the helpers ``convert_peer``
(restructure a peer into a weight-norm form), ``typical_token_ids`` and ``WEIGHT_NORM_FORMS``.
"""

from __future__ import annotations

import copy
import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import nn
from torch.nn.utils.weight_norm import WeightNorm

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from piper.train.vits import attentions as _p_attentions
    from piper.train.vits import commons as _p_commons
    from piper.train.vits import models as _p_models
    from piper.train.vits import modules as _p_modules

__all__ = [
    "PeerCase",
    "CASES",
    "WEIGHT_NORM_FORMS",
    "build_peer",
    "convert_peer",
    "original_checkpoint",
    "original_config",
    "peer_infer",
    "state_dict_forms",
    "typical_token_ids",
]

WEIGHT_NORM_FORMS = ("legacy", "plain", "parametrized", "mixed")

# Target for the calibrated duration predictor: mean exp(logw) over typical inputs.
_TARGET_FRAMES_PER_TOKEN = 3.0
_CALIBRATION_SEEDS = (101, 102, 103, 104)


@dataclass(frozen=True)
class PeerCase:
    """One small original-VITS configuration.

    ``hps`` holds the kwargs of an original VITS config "model" section (tuples where the
    JSON has lists); ``n_speakers`` is 0 for a single-speaker model (like ``ljs_base``).
    """

    name: str
    hps: dict = field(hash=False)
    n_vocab: int
    n_speakers: int
    spec_channels: int
    sampling_rate: int


def _hps(**overrides) -> dict:
    base = dict(
        inter_channels=16,
        hidden_channels=32,
        filter_channels=64,
        n_heads=2,
        n_layers=2,
        kernel_size=3,
        p_dropout=0.1,
        resblock="1",
        resblock_kernel_sizes=(3, 7, 11),
        resblock_dilation_sizes=((1, 3, 5), (1, 3, 5), (1, 3, 5)),
        upsample_rates=(8, 8, 2, 2),
        upsample_initial_channel=64,
        upsample_kernel_sizes=(16, 16, 4, 4),
        gin_channels=0,
        use_sdp=True,
    )
    unknown = set(overrides) - set(base)
    if unknown:
        raise KeyError(f"unknown hps keys: {sorted(unknown)}")
    base.update(overrides)
    return base


CASES: dict[str, PeerCase] = {
    # ljs_base-like: single speaker, stochastic duration predictor, HiFi-GAN ResBlock1.
    "single": PeerCase(
        name="single",
        hps=_hps(),
        n_vocab=40,
        n_speakers=0,
        spec_channels=33,
        sampling_rate=22050,
    ),
    # vctk_base-like: speaker embedding conditions dp, flow and decoder.
    "multi": PeerCase(
        name="multi",
        hps=_hps(inter_channels=24, hidden_channels=48, gin_channels=16),
        n_vocab=42,
        n_speakers=3,
        spec_channels=33,
        sampling_rate=22050,
    ),
    # ljs_nosdp-like: deterministic DurationPredictor.
    "nosdp": PeerCase(
        name="nosdp",
        hps=_hps(use_sdp=False),
        n_vocab=38,
        n_speakers=0,
        spec_channels=33,
        sampling_rate=22050,
    ),
    # Piper "low"-like decoder: ResBlock2 and three upsample stages.
    "resblock2": PeerCase(
        name="resblock2",
        hps=_hps(
            inter_channels=24,
            hidden_channels=48,
            resblock="2",
            resblock_kernel_sizes=(3, 5, 7),
            resblock_dilation_sizes=((1, 2), (2, 6), (3, 12)),
            upsample_rates=(8, 8, 4),
            upsample_kernel_sizes=(16, 16, 8),
        ),
        n_vocab=40,
        n_speakers=0,
        spec_channels=33,
        sampling_rate=16000,
    ),
}


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


@contextmanager
def _quiet_peer() -> Iterator[None]:
    """Silence the peer's legacy ``weight_norm`` FutureWarning (it is Piper's, not ours)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


def _wn_hook(module: nn.Module) -> WeightNorm | None:
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, WeightNorm):
            return hook
    return None


def _legacy_wn_modules(model: nn.Module) -> list[tuple[str, nn.Module, WeightNorm]]:
    out = []
    for name, module in model.named_modules():
        hook = _wn_hook(module)
        if hook is not None:
            if hook.name != "weight":
                raise AssertionError(f"{name}: unexpected weight-norm name {hook.name!r}")
            out.append((name, module, hook))
    return out


def _refresh_legacy_weights(model: nn.Module) -> None:
    """Recompute every legacy ``module.weight`` under no_grad (leaf tensors deepcopy fine)."""
    with torch.no_grad():
        for _, module, hook in _legacy_wn_modules(model):
            hook(module, None)


def _peer_kwargs(case: PeerCase) -> dict:
    return dict(case.hps)


def _normal(shape, std: float, gen: torch.Generator, mean: float = 0.0) -> torch.Tensor:
    return torch.randn(shape, generator=gen) * std + mean


def _uniform(shape, lo: float, hi: float, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(shape, generator=gen) * (hi - lo) + lo


def _conv_fan_in(module: nn.Module, weight_shape: torch.Size) -> float:
    if isinstance(module, nn.ConvTranspose1d):
        # weight: [in, out/groups, k]; each output sample sees in * k / stride taps.
        return weight_shape[0] * weight_shape[2] / module.stride[0]
    if isinstance(module, nn.Conv1d):
        # weight: [out, in/groups, k]
        return weight_shape[1] * weight_shape[2]
    if isinstance(module, nn.Linear):
        return weight_shape[1]
    raise TypeError(f"no fan-in rule for {type(module).__name__}")


def _conv_weight_std(name: str, module: nn.Module, shape: torch.Size, use_sdp: bool) -> float:
    """Std of a conv weight (or of ``weight_v``) for the module called ``name``."""
    parts = name.split(".")
    leaf = parts[-1]
    fan = _conv_fan_in(module, shape)
    base = 1.0 / math.sqrt(fan)
    if name.startswith("dp."):
        if use_sdp and leaf in ("proj", "post_proj") and len(parts) == 2:
            return 0.05  # SDP conditioning projection
        if use_sdp and leaf == "proj" and parts[1] in ("flows", "post_flows"):
            return 0.05  # ConvFlow spline parameters: keep the spline well conditioned
        if not use_sdp and name == "dp.proj":
            return 0.3 * base  # deterministic DP: modest spread of logw across tokens
    if name.startswith("flow.flows.") and leaf == "post":
        return 0.5 * base  # coupling mean: clearly non-identity flows
    if name == "dec.conv_post":
        return 0.5 * base  # keep the final tanh mostly out of saturation
    return base


def _init_parameters(peer: nn.Module, gen: torch.Generator, use_sdp: bool) -> None:
    """Re-draw EVERY parameter of ``peer`` from ``gen`` (raises on an unhandled one)."""
    seen: set[int] = set()
    with torch.no_grad():
        for name, module in peer.named_modules():
            params = dict(module.named_parameters(recurse=False))
            if not params:
                continue
            hook = _wn_hook(module)
            todo = set(params)
            if hook is not None:
                v, g = params.pop("weight_v"), params.pop("weight_g")
                todo -= {"weight_v", "weight_g"}
                std = _conv_weight_std(name, module, v.shape, use_sdp)
                v.copy_(_normal(v.shape, std, gen))
                norm = torch.norm_except_dim(v, 2, hook.dim)
                g.copy_(norm * _uniform(g.shape, 0.5, 1.5, gen))
                seen.update({id(v), id(g)})
            if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d, nn.Linear)):
                if "weight" in params:
                    w = params["weight"]
                    w.copy_(_normal(w.shape, _conv_weight_std(name, module, w.shape, use_sdp), gen))
                    todo.discard("weight")
                    seen.add(id(w))
                if "bias" in params:
                    b = params["bias"]
                    b.copy_(_normal(b.shape, 0.05, gen))
                    todo.discard("bias")
                    seen.add(id(b))
            elif isinstance(module, nn.Embedding):
                w = params["weight"]
                if name == "enc_p.emb":  # scaled by sqrt(hidden) in the forward
                    std = module.embedding_dim**-0.5
                else:  # emb_g: speakers should differ clearly through the cond convs
                    std = 1.0
                w.copy_(_normal(w.shape, std, gen))
                todo.discard("weight")
                seen.add(id(w))
            elif isinstance(module, _p_modules.LayerNorm):
                module.gamma.copy_(_normal(module.gamma.shape, 0.1, gen, mean=1.0))
                module.beta.copy_(_normal(module.beta.shape, 0.05, gen))
                todo -= {"gamma", "beta"}
                seen.update({id(module.gamma), id(module.beta)})
            elif isinstance(module, _p_attentions.MultiHeadAttention):
                for pname in ("emb_rel_k", "emb_rel_v"):
                    if pname in params:
                        p = params[pname]
                        p.copy_(_normal(p.shape, 0.3, gen))
                        todo.discard(pname)
                        seen.add(id(p))
            elif isinstance(module, _p_modules.ElementwiseAffine):
                module.m.copy_(_normal(module.m.shape, 0.1, gen))
                module.logs.copy_(_normal(module.logs.shape, 0.1, gen))
                todo -= {"m", "logs"}
                seen.update({id(module.m), id(module.logs)})
            if name in ("enc_p.proj", "enc_q.proj"):
                # rows [out:] give logs: keep exp(logs) moderate for noisy inference
                out_ch = module.out_channels // 2
                module.weight[out_ch:] *= 0.3
                module.bias[out_ch:] *= 0.3
            if todo:
                raise AssertionError(f"{name} ({type(module).__name__}): uninitialised {sorted(todo)}")
    all_ids = {id(p) for p in peer.parameters()}
    if all_ids - seen:
        raise AssertionError("some parameters were not re-drawn")


def typical_token_ids(case: PeerCase, seed: int, n_phonemes: int = 8) -> list[int]:
    """A seeded 'typical' utterance: ``n_phonemes`` ids in [1, n_vocab) interspersed with
    blank 0 (as with ``add_blank``), i.e. ``2 * n_phonemes + 1`` tokens."""
    gen = torch.Generator().manual_seed(int(seed))
    ids = torch.randint(1, case.n_vocab, (n_phonemes,), generator=gen).tolist()
    return _p_commons.intersperse(ids, 0)


def _speaker_ids(peer: nn.Module) -> list[int | None]:
    return list(range(peer.n_speakers)) if peer.n_speakers > 1 else [None]


def _text_and_logw(peer, token_ids, speaker_id, noise_scale_w):
    x_ids = torch.tensor([list(token_ids)], dtype=torch.long)
    x_lengths = torch.tensor([len(token_ids)], dtype=torch.long)
    x, m_p, logs_p, x_mask = peer.enc_p(x_ids, x_lengths)
    g = peer.emb_g(torch.tensor([speaker_id])).unsqueeze(-1) if peer.n_speakers > 1 else None
    if peer.use_sdp:
        logw = peer.dp(x, x_mask, g=g, reverse=True, noise_scale=noise_scale_w)
    else:
        logw = peer.dp(x, x_mask, g=g)
    return x, m_p, logs_p, x_mask, g, logw


def _calibrate_durations(peer: nn.Module, case: PeerCase) -> None:
    """Shift the duration predictor so the mean exp(logw) on typical inputs is ~3 frames.

    Deterministic DP: add to the final ``proj`` bias.  SDP: the last op of the reverse flow
    chain is ``ElementwiseAffine`` (``dp.flows.0``): ``logw = (z - m) * exp(-logs)``, so
    shifting ``m[0]`` by ``-delta * exp(logs[0])`` shifts logw exactly by ``delta``.
    """
    vals = []
    with torch.no_grad():
        for seed in _CALIBRATION_SEEDS:
            ids = typical_token_ids(case, seed)
            for sid in _speaker_ids(peer):
                *_, logw = _text_and_logw(peer, ids, sid, 0.0)
                vals.append(logw.flatten())
        delta = math.log(_TARGET_FRAMES_PER_TOKEN) - torch.cat(vals).mean().item()
        if peer.use_sdp:
            ea = peer.dp.flows[0]
            ea.m[0] -= delta * torch.exp(ea.logs[0])
        else:
            peer.dp.proj.bias += delta


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------


def build_peer(case: PeerCase, seed: int = 0) -> nn.Module:
    """Piper ``SynthesizerTrn`` for ``case`` in eval mode, every parameter drawn from a
    ``torch.Generator`` seeded with ``seed``; the global torch RNG is left untouched.
    Piper only creates ``emb_g`` when ``n_speakers > 1``."""
    gen = torch.Generator().manual_seed(int(seed))
    with _quiet_peer(), torch.random.fork_rng(devices=[]):
        peer = _p_models.SynthesizerTrn(
            case.n_vocab,
            case.spec_channels,
            segment_size=8,
            n_speakers=max(case.n_speakers, 1),
            **_peer_kwargs(case),
        )
        peer.eval()
        _init_parameters(peer, gen, use_sdp=bool(case.hps["use_sdp"]))
        _calibrate_durations(peer, case)  # the SDP reverse path draws from the global RNG
        _refresh_legacy_weights(peer)
    return peer


def original_checkpoint(peer: nn.Module) -> dict:
    """An original-VITS ``G_<iteration>.pth`` payload (``utils.save_checkpoint`` layout):
    the legacy state_dict (``weight_g`` / ``weight_v`` as Piper stores them), iteration 1,
    a small fake AdamW optimizer state and the learning rate."""
    model = {k: v.detach().clone() for k, v in peer.state_dict().items()}
    optimizer = {
        "state": {
            0: {
                "step": torch.tensor(1.0),
                "exp_avg": torch.full((4,), 1e-3),
                "exp_avg_sq": torch.full((4,), 1e-6),
            }
        },
        "param_groups": [
            {
                "lr": 2e-4,
                "betas": (0.8, 0.99),
                "eps": 1e-9,
                "weight_decay": 0.01,
                "amsgrad": False,
                "initial_lr": 2e-4,
                "params": [0],
            }
        ],
    }
    return {"model": model, "iteration": 1, "optimizer": optimizer, "learning_rate": 2e-4}


def _jsonable(value):
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    return value


def original_config(case: PeerCase) -> dict:
    """An original VITS ``config.json`` dict (``ljs_base.json`` layout) for ``case``.

    The "model" section is ``case.hps`` (lists instead of tuples) plus the two keys every
    upstream config carries but ``SynthesizerTrn`` ignores: ``n_layers_q`` and
    ``use_spectral_norm``.
    """
    hop = math.prod(case.hps["upsample_rates"])
    filter_length = (case.spec_channels - 1) * 2
    model = {k: _jsonable(v) for k, v in case.hps.items() if k != "n_vocab"}
    model.update(n_layers_q=3, use_spectral_norm=False)
    return {
        "train": {
            "log_interval": 200,
            "eval_interval": 1000,
            "seed": 1234,
            "epochs": 20000,
            "learning_rate": 2e-4,
            "betas": [0.8, 0.99],
            "eps": 1e-9,
            "batch_size": 64,
            "fp16_run": True,
            "lr_decay": 0.999875,
            "segment_size": 8192,
            "init_lr_ratio": 1,
            "warmup_epochs": 0,
            "c_mel": 45,
            "c_kl": 1.0,
        },
        "data": {
            "training_files": "filelists/train_filelist.txt.cleaned",
            "validation_files": "filelists/val_filelist.txt.cleaned",
            "text_cleaners": ["english_cleaners2"],
            "max_wav_value": 32768.0,
            "sampling_rate": case.sampling_rate,
            "filter_length": filter_length,
            "hop_length": hop,
            "win_length": filter_length,
            "n_mel_channels": 80,
            "mel_fmin": 0.0,
            "mel_fmax": None,
            "add_blank": True,
            "n_speakers": case.n_speakers,
            "cleaned_text": True,
        },
        "model": model,
    }


def peer_infer(
    peer: nn.Module,
    token_ids: list[int],
    *,
    speaker_id: int | None = None,
    noise_scale: float = 0.0,
    noise_scale_w: float = 0.0,
    length_scale: float = 1.0,
) -> dict[str, torch.Tensor]:
    """Run ``peer``'s inference path (batch of one) and return every stage output.

    Calls the peer's own submodules in exactly the order of ``SynthesizerTrn.infer`` (same
    global-RNG draws too, so with equal ``torch.manual_seed`` the noisy path matches as well).

    Keys: ``x``, ``m_p``, ``logs_p``, ``x_mask`` (enc_p outputs, token rate); ``logw``;
    ``w`` (= exp(logw) * x_mask * length_scale); ``w_ceil``; ``y_lengths``; ``y_mask``;
    ``attn`` [1, 1, T_y, T_x]; ``m_p_exp`` / ``logs_p_exp`` (expanded to frame rate);
    ``z_p``; ``z`` (flow reverse output); ``o`` (waveform [1, 1, T]); and ``g``
    ([1, gin, 1]) for multi-speaker peers only.
    """
    multi = peer.n_speakers > 1
    if multi and speaker_id is None:
        raise ValueError("multi-speaker peer needs speaker_id")
    if not multi and speaker_id is not None:
        raise ValueError("single-speaker peer takes no speaker_id")
    if len(token_ids) == 0:
        raise ValueError("token_ids is empty")
    with torch.no_grad():
        x, m_p, logs_p, x_mask, g, logw = _text_and_logw(peer, token_ids, speaker_id, noise_scale_w)
        w = torch.exp(logw) * x_mask * length_scale
        w_ceil = torch.ceil(w)
        y_lengths = torch.clamp_min(torch.sum(w_ceil, [1, 2]), 1).long()
        y_mask = torch.unsqueeze(
            _p_commons.sequence_mask(y_lengths, y_lengths.max()), 1
        ).type_as(x_mask)
        attn_mask = torch.unsqueeze(x_mask, 2) * torch.unsqueeze(y_mask, -1)
        attn = _p_commons.generate_path(w_ceil, attn_mask)
        m_p_exp = torch.matmul(attn.squeeze(1), m_p.transpose(1, 2)).transpose(1, 2)
        logs_p_exp = torch.matmul(attn.squeeze(1), logs_p.transpose(1, 2)).transpose(1, 2)
        z_p = m_p_exp + torch.randn_like(m_p_exp) * torch.exp(logs_p_exp) * noise_scale
        z = peer.flow(z_p, y_mask, g=g, reverse=True)
        o = peer.dec(z * y_mask, g=g)
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


def _module_form(module_name: str, form: str) -> str:
    """Weight-norm layout ('legacy' | 'plain' | 'parametrized') of one weight-normed module."""
    if form in ("legacy", "plain", "parametrized"):
        return form
    if form != "mixed":
        raise ValueError(f"unknown form {form!r}; expected one of {WEIGHT_NORM_FORMS}")
    if module_name.startswith("dec."):
        return "plain"
    if module_name.startswith("flow.flows.0.enc."):
        return "parametrized"
    return "legacy"


def convert_peer(peer: nn.Module, form: str) -> nn.Module:
    """A deepcopy of ``peer`` whose weight-normed modules are restructured into ``form``
    (see ``state_dict_forms``), computing the same effective weights; its ``state_dict()``
    has exactly the keys of ``state_dict_forms(peer)[form]``."""
    if form not in WEIGHT_NORM_FORMS:
        raise ValueError(f"unknown form {form!r}; expected one of {WEIGHT_NORM_FORMS}")
    _refresh_legacy_weights(peer)
    out = copy.deepcopy(peer)
    with _quiet_peer():
        for name, module, hook in _legacy_wn_modules(out):
            target = _module_form(name, form)
            if target == "legacy":
                continue
            g = module.weight_g.detach().clone()
            v = module.weight_v.detach().clone()
            torch.nn.utils.remove_weight_norm(module)  # module.weight = g * v / ||v||
            if target == "parametrized":
                torch.nn.utils.parametrizations.weight_norm(module, name="weight", dim=hook.dim)
                with torch.no_grad():
                    module.parametrizations.weight.original0.copy_(g)
                    module.parametrizations.weight.original1.copy_(v)
    out.eval()
    return out


def state_dict_forms(peer: nn.Module) -> dict[str, dict[str, torch.Tensor]]:
    """The SAME weights of ``peer`` in each weight-norm layout.

    Weight-normed modules of the generator: ``dec.ups.*``, ``dec.resblocks.*.convs*.*``
    (HiFi-GAN) and every WaveNet layer ``*.enc.in_layers.*``, ``*.enc.res_skip_layers.*``,
    ``*.enc.cond_layer`` (``enc_q.enc`` and ``flow.flows.{0,2,4,6}.enc``).  For such a
    module ``M``:

    * ``"legacy"``: exactly ``peer.state_dict()``: ``M.weight_g`` and ``M.weight_v``
      (the original-VITS / Piper checkpoint layout).
    * ``"plain"``: ``M.weight`` only, the effective weight ``g * v / ||v||`` (computed by
      ``remove_weight_norm`` on a deepcopy, i.e. what the legacy hook computes).
    * ``"parametrized"``: ``M.parametrizations.weight.original0`` (= ``weight_g``) and
      ``M.parametrizations.weight.original1`` (= ``weight_v``), the
      ``torch.nn.utils.parametrizations.weight_norm`` layout; the tensors are the legacy
      ones, renamed.
    * ``"mixed"``: ``dec.*`` modules plain (``.weight``); ``flow.flows.0.enc.*`` modules
      parametrized; every other WaveNet layer (``enc_q.enc.*``, ``flow.flows.{2,4,6}.enc.*``)
      legacy (``weight_g``/``weight_v``).

    All other keys (biases, plain convs, LayerNorms, embeddings, ...) are identical in every
    form.  Tensors are detached clones.
    """
    _refresh_legacy_weights(peer)
    legacy = {k: v.detach().clone() for k, v in peer.state_dict().items()}
    plain = {
        k: v.detach().clone() for k, v in convert_peer(peer, "plain").state_dict().items()
    }
    wn_names = {name: _module_form(name, "mixed") for name, _, _ in _legacy_wn_modules(peer)}

    def renamed(key: str) -> str:
        if key.endswith(".weight_g"):
            return key[: -len("weight_g")] + "parametrizations.weight.original0"
        if key.endswith(".weight_v"):
            return key[: -len("weight_v")] + "parametrizations.weight.original1"
        return key

    parametrized = {renamed(k): v.clone() for k, v in legacy.items()}

    def owner(key: str) -> str | None:
        mod = key.rsplit(".", 1)[0]
        return mod if mod in wn_names else None

    mixed: dict[str, torch.Tensor] = {}
    for k, v in legacy.items():
        mod = owner(k)
        target = wn_names[mod] if mod is not None else "legacy"
        if target == "legacy":
            mixed[k] = v.clone()
        elif target == "parametrized":
            mixed[renamed(k)] = v.clone()
        elif k.endswith(".weight_g"):
            continue
        elif k.endswith(".weight_v"):
            wk = k[: -len("weight_v")] + "weight"
            mixed[wk] = plain[wk].clone()
        else:
            mixed[k] = v.clone()
    return {"legacy": legacy, "plain": plain, "parametrized": parametrized, "mixed": mixed}
