"""Chunked decoding (streaming, long inputs) equals one-shot decoding; the context is the decoder's receptive field."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vits_adapters import InvalidInputError, from_pretrained
from vits_adapters.cli.demo import DEMO_HPARAMS, _in_memory_voice, build_random_generator
from vits_adapters.arch.vits.hparams import VitsHParams
from vits_adapters.components import chunked
from vits_adapters.components.chunked import budget_chunk_frames, decode_in_chunks, decoder_context_frames
from vits_adapters.components.hifigan import HiFiGANDecoder

TOKENS = [0, 5, 0, 17, 0, 42, 0, 9, 0, 33, 0, 61, 0, 8, 0, 25, 0, 70, 0, 3, 0]


@pytest.fixture(scope="module")
def voice(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stream-voice")
    _in_memory_voice(build_random_generator(DEMO_HPARAMS, seed=4), 4).save_pretrained(folder)
    return from_pretrained(folder)


def _decoder(hparams: VitsHParams, seed: int) -> HiFiGANDecoder:
    return build_random_generator(hparams, seed=seed).decoder


def _impulse_reach(decoder: HiFiGANDecoder, hop: int, frames: int = 80) -> int:
    """Measured half receptive field in frames: how far from an impulse frame the output changes."""
    z = torch.randn(1, decoder.conv_pre.in_channels, frames, generator=torch.Generator().manual_seed(0))
    bumped = z.clone()
    bumped[..., frames // 2] += 1.0
    with torch.inference_mode():
        diff = (decoder(bumped) - decoder(z)).abs()[0, 0].view(frames, hop).amax(-1)
    changed = torch.nonzero(diff > 0).flatten()
    return int(max(frames // 2 - changed.min(), changed.max() - frames // 2))


@pytest.mark.parametrize(
    "hparams",
    [
        DEMO_HPARAMS,
        VitsHParams(
            inter_channels=16, hidden_channels=32, filter_channels=64, upsample_initial_channel=32, resblock="2",
            resblock_kernel_sizes=(3, 5), resblock_dilation_sizes=((1, 2), (2, 6)), upsample_rates=(4, 4, 2),
            upsample_kernel_sizes=(8, 8, 4),
        ),
    ],
    ids=["resblock1", "resblock2"],
)
def test_context_covers_the_measured_receptive_field_tightly(hparams):
    decoder = _decoder(hparams, seed=1)
    measured = _impulse_reach(decoder, hparams.hop_length)
    computed = decoder_context_frames(hparams)
    # Never too small (chunks would differ); at most one frame generous (rounding up at each stride).
    assert measured <= computed <= measured + 1


@pytest.mark.parametrize("chunk_frames", [1, 5, 16, 33, 10_000])
def test_concatenated_chunks_equal_the_one_shot_output(voice, chunk_frames):
    one_shot = voice.synthesize(token_ids=TOKENS, seed=7, check=False).waveform
    chunks = [c.waveform for c in voice.synthesize_stream(token_ids=TOKENS, seed=7, chunk_frames=chunk_frames)]
    frames = len(one_shot) // voice.config.hop_length
    assert len(chunks) == -(-frames // chunk_frames)
    assert all(len(c) == chunk_frames * voice.config.hop_length for c in chunks[:-1])
    streamed = np.concatenate(chunks)
    assert streamed.shape == one_shot.shape
    assert np.abs(one_shot).max() > 0.05
    np.testing.assert_allclose(streamed, one_shot, atol=1e-5, rtol=0)


def test_an_utterance_shorter_than_one_chunk_is_one_chunk(voice):
    one_shot = voice.synthesize(token_ids=[0, 12, 0], seed=2, check=False).waveform
    chunks = list(voice.synthesize_stream(token_ids=[0, 12, 0], seed=2, chunk_frames=10_000))
    assert len(chunks) == 1 and chunks[0].sample_rate == voice.sample_rate
    np.testing.assert_allclose(chunks[0].waveform, one_shot, atol=1e-5, rtol=0)


def test_too_little_context_changes_the_output():
    decoder = _decoder(DEMO_HPARAMS, seed=3)
    hop = DEMO_HPARAMS.hop_length
    z = torch.randn(1, DEMO_HPARAMS.inter_channels, 40, generator=torch.Generator().manual_seed(1))
    context = decoder_context_frames(DEMO_HPARAMS)
    with torch.inference_mode():
        full = decoder(z)
        exact = torch.cat(list(decode_in_chunks(decoder, z, None, hop_length=hop, context_frames=context, chunk_frames=8)), -1)
        short = torch.cat(list(decode_in_chunks(decoder, z, None, hop_length=hop, context_frames=context // 2, chunk_frames=8)), -1)
    torch.testing.assert_close(exact, full, atol=1e-5, rtol=0)
    assert (short - full).abs().max() > 1e-3


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_chunk_sizes_are_refused_at_the_call(voice, bad):
    with pytest.raises(InvalidInputError, match="chunk_frames"):
        voice.synthesize_stream(token_ids=TOKENS, chunk_frames=bad)


def test_stream_checks_its_input_at_the_call(voice):
    with pytest.raises(InvalidInputError, match="exactly one"):
        voice.synthesize_stream()


def _widest_activation_per_frame(decoder: HiFiGANDecoder, frames: int = 12) -> int:
    """Measured: the most elements any decoder layer outputs, per latent frame."""
    widest = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: widest.append(out.numel())) for m in decoder.modules()
             if isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d))]
    with torch.inference_mode():
        decoder(torch.zeros(1, decoder.conv_pre.in_channels, frames))
    for hook in hooks:
        hook.remove()
    return max(widest) // frames


@pytest.mark.parametrize("element_size, batch", [(4, 1), (2, 1), (4, 3)])
def test_chunk_budget_matches_the_measured_widest_activation(element_size, batch):
    mms = VitsHParams(**{**DEMO_HPARAMS.__dict__, "upsample_initial_channel": 512,
                         "upsample_rates": (8, 8, 2, 2), "upsample_kernel_sizes": (16, 16, 4, 4)})
    per_frame = _widest_activation_per_frame(_decoder(mms, seed=1))
    assert per_frame == 32 * 256  # MMS: 32 channels at 256 samples per frame after the last upsampling
    assert budget_chunk_frames(mms, batch=batch, element_size=element_size) == (
        chunked.ACTIVATION_BUDGET_BYTES // (per_frame * batch * element_size)
    )


@pytest.mark.parametrize("frames_over_chunk, passes", [(2.0, 1), (2.0 + 1e-9, 3), (4.5, 5)])
def test_long_inputs_are_decoded_in_budget_chunks_equal_to_one_pass(voice, monkeypatch, frames_over_chunk, passes):
    generator = voice.generator
    chunk = 16
    per_frame = _widest_activation_per_frame(generator.decoder)
    monkeypatch.setattr(chunked, "ACTIVATION_BUDGET_BYTES", chunk * per_frame * 4)
    frames = int(np.ceil(chunk * frames_over_chunk))
    z = torch.randn(1, generator.decoder.conv_pre.in_channels, frames, generator=torch.Generator().manual_seed(3))
    calls = []
    hook = generator.decoder.register_forward_hook(lambda _m, inputs, _o: calls.append(inputs[0].size(-1)))
    with torch.inference_mode():
        ours = chunked.decode_waveform(generator.decoder, z, None, voice.config)
        hook.remove()
        reference = generator.decoder(z)
    assert len(calls) == passes
    assert ours.shape == reference.shape
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=0)


def _out_of_place_decoder(decoder: HiFiGANDecoder, z: torch.Tensor) -> torch.Tensor:
    """The decoder's arithmetic restated without in-place ops (the reference for the in-place forward)."""
    F = torch.nn.functional

    def block(module, x):
        for conv1, conv2 in zip(module.convs1, module.convs2):
            x = conv2(F.leaky_relu(conv1(F.leaky_relu(x, 0.1)), 0.1)) + x
        return x

    x = decoder.conv_pre(z)
    for i, upsample in enumerate(decoder.upsampler):
        x = upsample(F.leaky_relu(x, 0.1))
        blocks = decoder.resblocks[i * decoder.num_kernels : (i + 1) * decoder.num_kernels]
        x = sum(block(b, x) for b in blocks) / decoder.num_kernels
    return torch.tanh(decoder.conv_post(F.leaky_relu(x)))


@pytest.mark.parametrize("dilations", [((1, 3), (2,), (1,)), ((), (1,), (2,)), ((1,), (), (3,))])
def test_in_place_decoder_equals_its_out_of_place_arithmetic(dilations):
    # A block without convolutions hands its input back; the in-place sum must not then overwrite that input.
    torch.manual_seed(0)
    decoder = HiFiGANDecoder(8, "1", (3, 5, 7), dilations, (2, 2), 16, (4, 4)).eval()
    z = torch.randn(2, 8, 7)
    with torch.no_grad():
        torch.testing.assert_close(decoder(z), _out_of_place_decoder(decoder, z), atol=1e-6, rtol=0)
