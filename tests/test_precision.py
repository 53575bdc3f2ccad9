"""bfloat16 decoder: dtype plumbing, what gets cast, and the quality cost against float32 (SNR)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vits_adapters import InvalidInputError, from_pretrained
from vits_adapters.cli.entry import main
from vits_adapters.cli.demo import DEMO_HPARAMS, _in_memory_voice, build_random_generator
from vits_adapters.arch.precision import resolve_dtype

TOKENS = [0, 5, 0, 17, 0, 42, 0, 9, 0, 33, 0, 61, 0, 8, 0, 25, 0, 70, 0, 3, 0]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("precision-voice")
    _in_memory_voice(build_random_generator(DEMO_HPARAMS, seed=5), 5).save_pretrained(path)
    return path


def _snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference**2) / np.sum((reference - test) ** 2)))


@pytest.mark.parametrize("dtype", [torch.bfloat16, "bf16", "bfloat16", " BF16 "])
def test_bf16_casts_the_decoder_only(folder, dtype):
    voice = from_pretrained(folder, dtype=dtype)
    assert voice.dtype == torch.bfloat16
    for name, param in voice.generator.named_parameters():
        assert param.dtype == (torch.bfloat16 if name.startswith("decoder.") else torch.float32), name


@pytest.mark.parametrize("dtype", [torch.float32, "fp32", "float32"])
def test_fp32_is_the_default_and_accepted_by_name(folder, dtype):
    voice = from_pretrained(folder, dtype=dtype)
    assert voice.dtype == torch.float32
    assert {p.dtype for p in voice.generator.parameters()} == {torch.float32}


@pytest.mark.parametrize("dtype", ["fp16", "int8", "", torch.float16, torch.float64, 16])
def test_unsupported_dtypes_are_refused(folder, dtype):
    with pytest.raises(InvalidInputError, match="dtype"):
        from_pretrained(folder, dtype=dtype)


def test_bf16_output_is_within_30_db_of_fp32(folder):
    fp32 = from_pretrained(folder).synthesize(token_ids=TOKENS, seed=3)
    bf16 = from_pretrained(folder, dtype="bf16").synthesize(token_ids=TOKENS, seed=3)
    assert bf16.waveform.dtype == np.float32
    assert bf16.waveform.shape == fp32.waveform.shape  # durations stay in float32, so the length is identical
    snr = _snr_db(fp32.waveform, bf16.waveform)
    assert 30 <= snr < 120, snr  # below 120 dB: the decoder really ran in bfloat16


def test_bf16_stream_matches_bf16_one_shot(folder):
    voice = from_pretrained(folder, dtype="bf16")
    one_shot = voice.synthesize(token_ids=TOKENS, seed=3).waveform
    streamed = np.concatenate([c.waveform for c in voice.synthesize_stream(token_ids=TOKENS, seed=3, chunk_frames=8)])
    assert _snr_db(one_shot, streamed) >= 30


def test_resolve_dtype_names_the_choices():
    with pytest.raises(InvalidInputError, match="bf16"):
        resolve_dtype("half")


def test_synth_cli_takes_dtype(folder, tmp_path, capsys):
    out = tmp_path / "bf16.wav"
    assert main(["synth", str(folder), "--tokens", ",".join(map(str, TOKENS)), "--seed", "0", "--dtype", "bf16",
                 "-o", str(out)]) == 0
    assert out.exists()
    assert main(["synth", str(folder), "--tokens", "1,2", "--dtype", "fp16", "-o", str(tmp_path / "x.wav")]) == 2
    assert "fp16" in capsys.readouterr().err
