"""VitsHParams: every hyperparameter that shapes the reference VITS generator."""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ...errors import SpecError


@dataclass(frozen=True)
class VitsHParams:
    """Hyperparameters of a VITS generator.

    Defaults are those of the original VITS ``ljs_base`` config. Sequences are stored as tuples so the
    dataclass stays hashable and comparable.
    """

    n_vocab: int = 178
    spec_channels: int = 513
    inter_channels: int = 192
    hidden_channels: int = 192
    filter_channels: int = 768
    n_heads: int = 2
    n_layers: int = 6
    kernel_size: int = 3
    p_dropout: float = 0.1
    window_size: int = 4
    resblock: str = "1"
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2)
    upsample_initial_channel: int = 512
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 4, 4)
    n_speakers: int = 0
    gin_channels: int = 0
    use_sdp: bool = True
    sampling_rate: int = 22050
    # Sizes the original code hard-codes; other layouts (transformers) make them configurable.
    flow_n_flows: int = 4
    flow_n_layers: int = 4
    flow_kernel_size: int = 5
    flow_dilation_rate: int = 1
    posterior_n_layers: int = 16
    posterior_kernel_size: int = 5
    posterior_dilation_rate: int = 1
    dp_filter_channels: int = 256
    dp_kernel_size: int = 3
    dp_layer_norm_eps: float = 1e-5  # Coqui's deterministic predictor uses 1e-4
    dp_condition_on_speaker: bool = True  # Coqui can leave the duration predictor unconditioned
    sdp_filter_channels: int | None = None  # None: the hidden size (original); Coqui fixes it at 192
    sdp_n_flows: int = 4
    sdp_post_n_flows: int = 4  # posterior (training-only) flows; transformers ties it to sdp_n_flows
    sdp_num_bins: int = 10
    sdp_tail_bound: float = 5.0
    sdp_dds_layers: int = 3
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        for name in ("resblock_kernel_sizes", "upsample_rates", "upsample_kernel_sizes"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        object.__setattr__(
            self,
            "resblock_dilation_sizes",
            tuple(tuple(int(d) for d in row) for row in self.resblock_dilation_sizes),
        )
        object.__setattr__(self, "resblock", str(self.resblock))
        problems = []
        if self.resblock not in ("1", "2"):
            problems.append(f"resblock must be '1' or '2', got {self.resblock!r}")
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            problems.append("upsample_rates and upsample_kernel_sizes differ in length")
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes):
            problems.append("resblock_kernel_sizes and resblock_dilation_sizes differ in length")
        if self.hidden_channels % self.n_heads:
            problems.append("hidden_channels must be divisible by n_heads")
        if self.inter_channels % 2:
            problems.append("inter_channels must be even (the flow splits it in halves)")
        if self.n_speakers > 1 and self.gin_channels <= 0:
            problems.append("a multi-speaker model needs gin_channels > 0")
        if problems:
            raise SpecError("invalid VITS hyperparameters:\n  " + "\n  ".join(problems))

    @property
    def hop_length(self) -> int:
        """Waveform samples per latent frame: the product of the upsample rates."""
        return math.prod(self.upsample_rates)

    @property
    def multi_speaker(self) -> bool:
        """True when the model has a speaker embedding table."""
        return self.n_speakers > 1

    @property
    def external_speaker(self) -> bool:
        """True when the model is conditioned on speakers (gin_channels > 0) but has no table to look them up."""
        return self.gin_channels > 0 and not self.multi_speaker

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        data = asdict(self)
        data.pop("extra")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VitsHParams:
        """Build from a dict of field values; an unknown field is a SpecError naming it."""
        known = {f.name for f in fields(cls)} - {"extra"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(f"unknown VITS hyperparameter(s): {', '.join(unknown)}")
        return cls(**data)


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON-shaped ``value`` has the type a VitsHParams annotation names (lists stand for tuples)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if origin is tuple:
        return isinstance(value, (list, tuple)) and all(_fits(item, args[0]) for item in value)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in args)
    if origin is tuple:
        if typing.get_origin(args[0]) is tuple:
            return f"a list of lists of {_describe(typing.get_args(args[0])[0])}"
        return f"a list of {_describe(args[0])}"
    return "null" if hint is type(None) else hint.__name__


def check_hparam_types(values: Mapping[str, Any], labels: Mapping[str, str], source: str) -> None:
    """Raise SpecError naming every value of the wrong type or unknown field; ``labels`` give the config's names.

    Args:
        values: hyperparameter name -> value as read from a config.
        labels: hyperparameter name -> the field it came from (``hidden_size``, ``model_args.num_chars``...).
        source: the config's name, for the message.
    """
    hints = typing.get_type_hints(VitsHParams)
    unknown = sorted(labels.get(name, name) for name in values if name not in hints or name == "extra")
    if unknown:
        raise SpecError(f"{source}: unknown VITS hyperparameter(s): {', '.join(unknown)}")
    wrong = [
        f"field '{labels.get(name, name)}' must be {_describe(hints[name])}, got {type(value).__name__} ({value!r})"
        for name, value in values.items()
        if not _fits(value, hints[name])
    ]
    if wrong:
        raise SpecError(f"{source}: " + "; ".join(sorted(wrong)) + ". Fix the config or pass the right one (config=...).")
