"""Chunked HiFi-GAN decoding: the decoder's receptive field from its hyperparameters, and exact chunked decoding.

Used for streaming, and for one-shot synthesis of long inputs: a decoder activation above glibc's mmap threshold
(at most 32 MB) is fresh memory on every call, faulted in page by page; on the benchmark VM that made 20 s of audio
decode 1.6x slower per second than 5 s. Chunks whose activations stay under ``ACTIVATION_BUDGET_BYTES`` reuse
the allocator's memory instead (20 s at 2 threads: 8.4 s one pass, 5.4 s in 256-frame chunks).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch

from .hifigan import HiFiGANDecoder
from ..arch.vits.hparams import VitsHParams

# conv_pre and conv_post of the HiFi-GAN decoder (fixed by the architecture, not by hyperparameters).
_OUTER_KERNEL = 7
DEFAULT_CHUNK_FRAMES = 64
ACTIVATION_BUDGET_BYTES = 8 << 20


def _conv_reach(kernel_size: int, dilation: int) -> int:
    """Samples a "same"-padded convolution looks at on its wider side."""
    span = dilation * (kernel_size - 1)
    left = span // 2
    return max(left, span - left)


def _resblock_reach(resblock: str, kernel_size: int, dilations: Sequence[int]) -> int:
    if resblock == "1":  # each dilated conv is followed by an undilated one
        return sum(_conv_reach(kernel_size, d) + _conv_reach(kernel_size, 1) for d in dilations)
    return sum(_conv_reach(kernel_size, d) for d in dilations)


def decoder_context_frames(hparams: VitsHParams) -> int:
    """Latent frames on each side that can influence the decoder's output for one frame (its half receptive field).

    Walks the decoder from the output back to its input: conv_post, then per upsample stage (last first) the widest
    residual block's reach, then the transposed convolution, which divides the reach by its stride (rounding up)
    after adding its own kernel overhang, and finally conv_pre at the frame rate.
    """
    reach = _conv_reach(_OUTER_KERNEL, 1)
    stages = list(zip(hparams.upsample_rates, hparams.upsample_kernel_sizes))
    for rate, kernel in reversed(stages):
        reach += max(
            _resblock_reach(hparams.resblock, k, dilations)
            for k, dilations in zip(hparams.resblock_kernel_sizes, hparams.resblock_dilation_sizes)
        )
        padding = (kernel - rate) // 2
        reach = math.ceil((reach + max(padding, kernel - 1 - padding)) / rate)
    return reach + _conv_reach(_OUTER_KERNEL, 1)


def decode_in_chunks(
    decoder: HiFiGANDecoder,
    z: torch.Tensor,
    g: torch.Tensor | None,
    *,
    hop_length: int,
    context_frames: int,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
) -> Iterator[torch.Tensor]:
    """Yield the waveform ``[b, 1, samples]`` of ``z`` ``[b, channels, frames]`` chunk by chunk.

    Each chunk of ``chunk_frames`` latent frames is decoded with ``context_frames`` of its neighbours on each side
    (clipped at the ends of ``z``, where the one-shot pass pads with zeros too) and the samples of the context are cut
    away, so the concatenated chunks equal one decoder pass over all of ``z`` up to float rounding.

    Raises:
        ValueError: ``chunk_frames`` below 1 or ``context_frames`` negative.
    """
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be at least 1, got {chunk_frames}")
    if context_frames < 0:
        raise ValueError(f"context_frames must be >= 0, got {context_frames}")
    frames = z.size(-1)
    for start in range(0, frames, chunk_frames):
        end = min(frames, start + chunk_frames)
        low, high = max(0, start - context_frames), min(frames, end + context_frames)
        waveform = decoder(z[..., low:high], g)
        yield waveform[..., (start - low) * hop_length : (end - low) * hop_length]


def budget_chunk_frames(hparams: VitsHParams, *, batch: int, element_size: int) -> int:
    """Latent frames per chunk that keep the decoder's widest activation within ``ACTIVATION_BUDGET_BYTES``."""
    channels = widest = hparams.upsample_initial_channel
    samples = 1
    for rate in hparams.upsample_rates:
        channels //= 2
        samples *= rate
        widest = max(widest, channels * samples)
    return max(1, ACTIVATION_BUDGET_BYTES // (widest * batch * element_size))


def decode_waveform(
    decoder: HiFiGANDecoder, z: torch.Tensor, g: torch.Tensor | None, hparams: VitsHParams
) -> torch.Tensor:
    """The waveform ``[b, 1, samples]`` of ``z``: one decoder pass, or chunks when the input is over twice the budget.

    Chunked output equals one pass up to float rounding (about 1e-6 on full-size voices).
    """
    chunk = budget_chunk_frames(hparams, batch=z.size(0), element_size=decoder.conv_pre.weight.element_size())
    if z.size(-1) <= 2 * chunk:
        return decoder(z, g)
    pieces = decode_in_chunks(
        decoder, z, g, hop_length=hparams.hop_length, context_frames=decoder_context_frames(hparams), chunk_frames=chunk
    )
    return torch.cat(list(pieces), dim=-1)
