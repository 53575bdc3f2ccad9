"""Read, fold and apply weight norm on the layers of any PyTorch model, in either of torch's two forms.

torch has two weight-norm implementations: the legacy forward pre-hook (``weight_g``/``weight_v``) and the
parametrization (``parametrizations.weight.original0``/``original1``). Both store ``dim=None`` as ``-1``.
Nothing here calls the deprecated legacy ``weight_norm``, so no deprecation warning is ever emitted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from torch import nn
from torch.nn.utils import parametrizations, parametrize
from torch.nn.utils.parametrizations import _WeightNorm
from torch.nn.utils.weight_norm import WeightNorm, remove_weight_norm

from ..errors import InvalidInputError, format_keys

# Layer types that apply_weight_norm picks when no modules are named.
WEIGHT_NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.Linear,
)


@dataclass(frozen=True)
class WeightLayout:
    """How a layer stores its ``weight``: ``form`` is plain, legacy or parametrized; ``dim`` the norm's dim."""

    form: str
    dim: int | None = None

    def describe(self) -> str:
        return self.form if self.form == "plain" else f"{self.form} (dim {self.dim})"


def _from_torch_dim(dim: int) -> int | None:
    return None if dim == -1 else dim


def _legacy_hook(module: nn.Module) -> WeightNorm | None:
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, WeightNorm) and hook.name == "weight":
            return hook
    return None


def _parametrization(module: nn.Module) -> _WeightNorm | None:
    """The weight-norm parametrization of ``module.weight`` when it is the only one, else None."""
    if not parametrize.is_parametrized(module, "weight"):
        return None
    chain = module.parametrizations["weight"]
    if len(chain) == 1 and isinstance(chain[0], _WeightNorm):
        return chain[0]
    return None


def weight_layout(module: nn.Module) -> WeightLayout | None:
    """The layout of ``module.weight``, or None when it has no weight of its own (or one under another
    parametrization, which is loaded key for key)."""
    hook = _legacy_hook(module)
    if hook is not None:
        return WeightLayout("legacy", _from_torch_dim(hook.dim))
    norm = _parametrization(module)
    if norm is not None:
        return WeightLayout("parametrized", _from_torch_dim(norm.dim))
    if parametrize.is_parametrized(module, "weight"):
        return None
    if isinstance(module._parameters.get("weight"), nn.Parameter):
        return WeightLayout("plain")
    return None


def weight_layouts(model: nn.Module) -> dict[str, WeightLayout]:
    """``{module name: layout}`` for every layer of ``model`` that owns a weight ("" is the model itself)."""
    layouts = {}
    for name, module in model.named_modules(remove_duplicate=False):
        layout = weight_layout(module)
        if layout is not None:
            layouts[name] = layout
    return layouts


def _fold_one(module: nn.Module) -> bool:
    if _legacy_hook(module) is not None:
        remove_weight_norm(module)
        return True
    if _parametrization(module) is not None:
        parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        return True
    return False


def fold_weight_norm(model: nn.Module) -> list[str]:
    """Replace every weight norm in ``model`` (legacy hook or parametrization) by its plain effective weight.

    The forward output is unchanged. Returns the names of the layers folded ("" for the model itself).
    """
    return [name for name, module in list(model.named_modules()) if _fold_one(module)]


def _select(model: nn.Module, modules: str | Iterable[str] | type | tuple[type, ...] | None) -> list[str]:
    named = dict(model.named_modules())
    if modules is None:
        modules = WEIGHT_NORM_TYPES
    if isinstance(modules, type) or (isinstance(modules, tuple) and all(isinstance(m, type) for m in modules)):
        return [name for name, module in named.items() if isinstance(module, modules) and weight_layout(module)]
    if isinstance(modules, str):
        pattern = re.compile(modules)
        chosen = [name for name in named if pattern.fullmatch(name)]
        if not chosen:
            raise InvalidInputError(f"no module name fully matches {modules!r}; names look like {', '.join(list(named)[1:4])}")
    else:
        chosen = list(modules)
        unknown = [name for name in chosen if name not in named]
        if unknown:
            raise InvalidInputError(f"the model has no module(s) named:\n{format_keys(unknown)}")
    weightless = [name for name in chosen if weight_layout(named[name]) is None]
    if weightless:
        raise InvalidInputError(f"these modules have no plain or weight-normed 'weight' to normalise:\n{format_keys(weightless)}")
    return chosen


def apply_weight_norm(
    model: nn.Module,
    modules: str | Iterable[str] | type | tuple[type, ...] | None = None,
    *,
    dim: int | None = 0,
) -> list[str]:
    """Give the chosen layers modern (parametrized) weight norm with ``dim``; returns the names changed.

    ``modules`` is a full-match regex over module names, a list of names, or layer types (default: every
    Conv/ConvTranspose/Linear). A layer that already has weight norm with this ``dim`` is left alone; one with
    the legacy hook or another ``dim`` is folded first, so its effective weight (and output) is unchanged.
    """
    changed = []
    for name in _select(model, modules):
        module = model.get_submodule(name)
        ndim = module.weight.ndim
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or not 0 <= dim < ndim):
            raise InvalidInputError(
                f"weight-norm dim for {name!r} must be None or an int in [0, {ndim}) for its {ndim}-d weight, got {dim!r}"
            )
        if weight_layout(module) == WeightLayout("parametrized", dim):
            continue
        _fold_one(module)
        parametrizations.weight_norm(module, dim=dim)
        changed.append(name)
    return changed
