"""Every structural field of transformers' VitsConfig, varied: transformers builds and runs the model, we load its files.

Each case is one small ``VitsConfig`` built by transformers itself (``tests/peers/transformers_reference.py``, every
parameter re-drawn so no flow is the identity), saved with ``save_pretrained``, loaded with ``from_pretrained`` and
compared with transformers' own forward at noise 0, stage by stage and on the waveform.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import VitsConfig, VitsModel

from tests.peers.transformers_reference import SMALL, HFCase, build, run, typical_ids
from tests.test_transformers_format import _assert_matches, _ours

from vits_adapters import SpecError, from_pretrained

# Each case changes a group of structural fields away from both transformers' defaults and the peer's SMALL sizes.
CASES = {
    "flows": dict(prior_encoder_num_flows=2, duration_predictor_num_flows=3),
    "layers": dict(
        num_hidden_layers=3,
        prior_encoder_num_wavenet_layers=2,
        posterior_encoder_num_wavenet_layers=5,
        depth_separable_num_layers=2,
    ),
    "kernels": dict(ffn_kernel_size=4, wavenet_kernel_size=3, duration_predictor_kernel_size=5, window_size=1),
    "heads_window": dict(num_attention_heads=4, window_size=2),
    "speakers": dict(num_speakers=4, speaker_embedding_size=8, duration_predictor_num_flows=5),
    "upsample": dict(
        upsample_rates=[4, 4, 4],
        upsample_kernel_sizes=[8, 8, 8],
        upsample_initial_channel=48,
        resblock_kernel_sizes=[3, 5],
        resblock_dilation_sizes=[[1, 2, 4], [1, 3]],
    ),
    "deterministic": dict(
        use_stochastic_duration_prediction=False,
        duration_predictor_kernel_size=5,
        duration_predictor_filter_channels=48,
        num_speakers=2,
        speaker_embedding_size=8,
    ),
    "dilation": dict(wavenet_dilation_rate=2, prior_encoder_num_wavenet_layers=4),
    "spline": dict(duration_predictor_flow_bins=6, duration_predictor_tail_bound=3.0),
    "sizes": dict(hidden_size=24, ffn_dim=40, flow_size=8, spectrogram_bins=17, vocab_size=29),
}
# VitsConfig's fields that shape the generator (its tensors or its computation).
STRUCTURAL = (
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "window_size", "ffn_dim",
    "ffn_kernel_size", "flow_size", "spectrogram_bins", "upsample_initial_channel", "upsample_rates",
    "upsample_kernel_sizes", "resblock_kernel_sizes", "resblock_dilation_sizes", "use_stochastic_duration_prediction",
    "num_speakers", "speaker_embedding_size", "prior_encoder_num_flows", "prior_encoder_num_wavenet_layers",
    "posterior_encoder_num_wavenet_layers", "wavenet_kernel_size", "wavenet_dilation_rate",
    "duration_predictor_filter_channels", "duration_predictor_kernel_size", "duration_predictor_num_flows",
    "duration_predictor_flow_bins", "duration_predictor_tail_bound", "depth_separable_num_layers",
)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models: extra intra-op threads only contend on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """name -> (transformers model, the folder transformers saved it to)."""
    out = {}
    for name, overrides in CASES.items():
        model = build(HFCase(name, overrides), seed=11)
        folder = tmp_path_factory.mktemp(f"hfcfg-{name}")
        model.save_pretrained(folder)
        out[name] = (model, folder)
    return out


def _plain(value):
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def test_the_cases_vary_every_structural_field():
    defaults = VitsConfig().to_dict()
    assert set(STRUCTURAL) <= set(defaults), sorted(set(STRUCTURAL) - set(defaults))
    for name in STRUCTURAL:
        usual = [_plain(defaults[name]), _plain(SMALL.get(name, defaults[name]))]
        assert any(_plain(case[name]) not in usual for case in CASES.values() if name in case), f"no case varies {name}"
    assert {case.get("use_stochastic_duration_prediction", True) for case in CASES.values()} == {True, False}


@pytest.mark.parametrize("name", sorted(CASES))
def test_transformers_config_loads_and_matches_transformers_forward(name, saved):
    model, folder = saved[name]
    voice = from_pretrained(folder)
    assert voice.report.format == "transformers" and voice.report.complete
    config = model.config
    speaker = config.num_speakers - 1 if config.num_speakers > 1 else None
    ids = typical_ids(config, 1)
    _assert_matches(run(model, ids, speaker_id=speaker), _ours(voice, ids, speaker))


@pytest.mark.parametrize("name", sorted(CASES))
def test_writing_transformers_back_keeps_every_structural_field(name, saved, tmp_path):
    model, folder = saved[name]
    voice = from_pretrained(folder)
    voice.save_pretrained(tmp_path, format="transformers")
    written = json.loads((tmp_path / "config.json").read_text())
    original = model.config.to_dict()
    for field in STRUCTURAL:
        assert _plain(written[field]) == _plain(original[field]), field
    _, info = VitsModel.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]


def test_the_original_layout_refuses_posterior_flows_it_hard_codes(saved, tmp_path):
    voice = from_pretrained(saved["flows"][1])
    with pytest.raises(SpecError, match=r"sdp_post_n_flows=3 \(original: 4\)"):
        voice.save_pretrained(tmp_path / "out", format="vits-original")
    assert not (tmp_path / "out").exists()


def test_transformers_refuses_posterior_flows_that_differ_from_the_flows(saved, tmp_path):
    """VitsConfig has one count for both chains: a voice with 3 flows and 2 posterior flows cannot be written."""
    voice = from_pretrained(saved["flows"][1])
    voice.save_pretrained(tmp_path / "ours")
    path = tmp_path / "ours" / "model.safetensors"
    with safe_open(path, "pt") as handle:
        metadata = handle.metadata()
    weights = load_file(path)
    trimmed = {key: t for key, t in weights.items() if not key.startswith("duration_predictor.post_flows.3.")}
    assert len(trimmed) < len(weights)
    save_file(trimmed, path, metadata=metadata)
    config = json.loads((tmp_path / "ours" / "config.json").read_text())
    config["hparams"]["sdp_post_n_flows"] = 2
    (tmp_path / "ours" / "config.json").write_text(json.dumps(config))
    fewer = from_pretrained(tmp_path / "ours")
    assert (fewer.config.sdp_n_flows, fewer.config.sdp_post_n_flows) == (3, 2)
    with pytest.raises(SpecError, match="sdp_n_flows=3, sdp_post_n_flows=2 .*duration_predictor_num_flows"):
        fewer.save_pretrained(tmp_path / "out", format="transformers")
    assert not (tmp_path / "out").exists()
