"""Compute precision of a loaded generator: parse a dtype request and cast the decoder to it once."""

from __future__ import annotations

import logging
import warnings

import torch

from ..errors import InvalidInputError
from .vits.generator import VitsGenerator

logger = logging.getLogger(__name__)

# Names accepted for ``dtype``; the decoder (about 97% of the FLOPs) is the only part cast.
DTYPE_NAMES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
}
SUPPORTED_DTYPES = (torch.float32, torch.bfloat16)


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """The torch dtype for ``dtype`` ("fp32", "float32", "bf16", "bfloat16", or one of those torch dtypes).

    Raises:
        InvalidInputError: an unknown name, or a dtype the decoder does not run in (e.g. float16, float64).
    """
    if isinstance(dtype, str):
        resolved = DTYPE_NAMES.get(dtype.strip().lower())
        if resolved is None:
            raise InvalidInputError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPE_NAMES)}")
        return resolved
    if isinstance(dtype, torch.dtype):
        if dtype not in SUPPORTED_DTYPES:
            raise InvalidInputError(
                f"dtype {dtype} is not supported: use torch.float32 (default) or torch.bfloat16 (decoder in bfloat16)"
            )
        return dtype
    raise InvalidInputError(f"dtype must be a string or a torch.dtype, got {type(dtype).__name__}")


def cast_decoder(generator: VitsGenerator, dtype: torch.dtype) -> None:
    """Cast the HiFi-GAN decoder's weights to ``dtype`` once; every other component stays float32.

    The flows, duration predictor and text encoder are cheap and sensitive (durations are rounded up, so a
    rounding error there changes the length), so only the decoder, which dominates the cost, is cast. The decoder
    casts its input to its own dtype, and the voice returns float32 audio either way.
    """
    if dtype == torch.bfloat16 and generator.decoder.conv_pre.weight.device.type == "cpu":
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            warnings.warn(
                "this CPU has no native bfloat16 support (AVX512-BF16 or AMX): the bfloat16 decoder runs, but "
                "slower than float32",
                stacklevel=3,
            )
    generator.decoder.to(dtype=dtype)
    logger.info("decoder cast to %s", dtype)
