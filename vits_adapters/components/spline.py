"""Inverse of the monotonic rational-quadratic spline with linear tails (Durkan et al., 2019)."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

MIN_BIN_WIDTH = 1e-3
MIN_BIN_HEIGHT = 1e-3
MIN_DERIVATIVE = 1e-3


def _knots(unnormalized: torch.Tensor, minimum: float, low: float, high: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Knot positions (num_bins + 1) and bin sizes on ``[low, high]`` from unnormalized bin sizes."""
    num_bins = unnormalized.shape[-1]
    sizes = minimum + (1 - minimum * num_bins) * F.softmax(unnormalized, dim=-1)
    knots = F.pad(torch.cumsum(sizes, dim=-1), (1, 0), value=0.0)
    knots = (high - low) * knots + low
    knots[..., 0] = low
    knots[..., -1] = high
    return knots, knots[..., 1:] - knots[..., :-1]


def inverse_rational_quadratic(
    y: torch.Tensor,
    unnormalized_widths: torch.Tensor,
    unnormalized_heights: torch.Tensor,
    unnormalized_derivatives: torch.Tensor,
    tail_bound: float,
) -> torch.Tensor:
    """Map ``y`` back through the spline; values outside ``[-tail_bound, tail_bound]`` pass unchanged.

    ``unnormalized_derivatives`` holds the ``num_bins - 1`` interior derivatives; the boundary derivatives
    are fixed to 1 so the spline joins the identity tails smoothly.
    """
    boundary = math.log(math.exp(1 - MIN_DERIVATIVE) - 1)
    padded = F.pad(unnormalized_derivatives, (1, 1), value=boundary)
    derivatives = MIN_DERIVATIVE + F.softplus(padded)
    x_knots, widths = _knots(unnormalized_widths, MIN_BIN_WIDTH, -tail_bound, tail_bound)
    y_knots, heights = _knots(unnormalized_heights, MIN_BIN_HEIGHT, -tail_bound, tail_bound)

    # Bin k holds y when y_knots[k] <= y < y_knots[k + 1]; the top knot belongs to the last bin.
    bin_index = (y.unsqueeze(-1) >= y_knots[..., 1:-1]).sum(dim=-1, keepdim=True)

    def pick(t: torch.Tensor) -> torch.Tensor:
        return t.gather(-1, bin_index).squeeze(-1)

    x_start, width = pick(x_knots), pick(widths)
    y_start, height = pick(y_knots), pick(heights)
    slope = pick(heights / widths)
    d_left, d_right = pick(derivatives), derivatives[..., 1:].gather(-1, bin_index).squeeze(-1)

    offset = y - y_start
    curvature = d_left + d_right - 2 * slope
    a = offset * curvature + height * (slope - d_left)
    b = height * d_left - offset * curvature
    c = -slope * offset
    discriminant = b.pow(2) - 4 * a * c
    theta = (2 * c) / (-b - torch.sqrt(discriminant))
    x = theta * width + x_start

    inside = (y >= -tail_bound) & (y <= tail_bound)
    return torch.where(inside, x, y)
