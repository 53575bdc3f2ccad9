"""Frozen dataclasses for format specs and component adapters, parsed and validated from YAML."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import EllipsisType
from typing import Any

import yaml

from ..errors import SpecError

RESHAPES = {
    "linear_to_conv1d": "conv1d_to_linear",
    "conv1d_to_linear": "linear_to_conv1d",
    "broadcast_to_vector": "vector_to_broadcast",  # (1, C, 1) <-> (C,)
    "vector_to_broadcast": "broadcast_to_vector",
}

COMPONENTS = (
    "text_encoder",
    "duration_predictor",
    "wavenet_flow",
    "posterior_encoder",
    "hifigan_decoder",
    "speaker_embedding",
)

# libyaml's safe loader when PyYAML was built with it: same safe semantics, several times faster on the ~35 spec files
# every load reads.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Reindex:
    """Index arithmetic on one captured group: ``(value * mul + add) / div``, which must be a whole number."""

    group: int
    add: int = 0
    div: int = 1
    mul: int = 1


@dataclass(frozen=True)
class RenameRule:
    """A full-match source-key pattern and the target-key template it maps to."""

    pattern: re.Pattern[str]
    template: str
    reindex: tuple[Reindex, ...]
    origin: str  # "file: rename[i]", for error messages and the load report
    reshape: str | None = None  # a value-preserving layout change, e.g. "linear_to_conv1d"
    when: re.Pattern[str] | None = None  # applies only if some key of the same dict fully matches this
    when_inverse: re.Pattern[str] | None = None  # the same condition in target space, for the inverted rule


@dataclass(frozen=True)
class DropRule:
    """Source keys dropped on purpose, with the reason shown in the load report."""

    pattern: re.Pattern[str]
    reason: str
    origin: str


@dataclass(frozen=True)
class WeightNormRule:
    """The weight-norm ``dim`` of target layers whose module name fully matches ``modules``."""

    modules: re.Pattern[str]
    dim: int | None
    origin: str


@dataclass(frozen=True)
class ComponentAdapter:
    """How one component (e.g. the HiFi-GAN decoder) of one layout maps onto the reference generator."""

    component: str
    variant: str
    description: str
    rename: tuple[RenameRule, ...]
    drop: tuple[DropRule, ...]
    weight_norm: tuple[WeightNormRule, ...]
    path: Path


@dataclass(frozen=True)
class ContainerSpec:
    """Where the state dict sits inside the checkpoint object, and what else the object may hold."""

    state_dict_keys: tuple[str, ...]  # tried in order; an empty tuple means the object is the state dict
    bare_allowed: bool  # a flat dict of tensors is accepted as the state dict itself
    strip_prefix: str  # removed from every key before renaming (e.g. Lightning's "model_g.")
    ignore: dict[str, str]  # other top-level entries -> why they are not weights we load
    config_key: str  # a top-level entry holding hyperparameters (Lightning's "hyper_parameters"), or ""


@dataclass(frozen=True)
class DetectSpec:
    """Sentinel patterns: every ``require`` pattern must match some key, no ``forbid`` pattern may."""

    require: tuple[re.Pattern[str], ...]
    forbid: tuple[re.Pattern[str], ...]
    metadata: dict[str, str]  # safetensors header metadata entries that must be present with these values
    forbid_metadata: dict[str, str]  # safetensors header metadata entries that must not have these values


@dataclass(frozen=True)
class FormatSpec:
    """A checkpoint layout: files, container, detection, component adapters, drops and config reader."""

    name: str
    description: str
    weight_files: tuple[str, ...]
    config_files: tuple[str, ...]
    extra_files: tuple[str, ...]  # fetched with the weights (e.g. tokenizer files)
    config_reader: str
    container: ContainerSpec
    detect: DetectSpec
    components: tuple[ComponentAdapter, ...]
    drop: tuple[DropRule, ...]
    path: Path
    # Hyperparameters the layout's code hard-codes where no tensor shows them: name -> (value, why).
    fixed: dict[str, tuple[Any, str]] = field(default_factory=dict)

    @property
    def rename_rules(self) -> tuple[RenameRule, ...]:
        """Every rename rule of every component, in declaration order."""
        return tuple(rule for adapter in self.components for rule in adapter.rename)

    @property
    def drop_rules(self) -> tuple[DropRule, ...]:
        """Format-level drops followed by every component's drops."""
        return self.drop + tuple(rule for adapter in self.components for rule in adapter.drop)

    @property
    def weight_norm_rules(self) -> tuple[WeightNormRule, ...]:
        """Every component's weight-norm dim declarations."""
        return tuple(rule for adapter in self.components for rule in adapter.weight_norm)

    @property
    def weight_norm_dims(self) -> dict[str, int | None]:
        """``{full-match layer pattern: dim}`` of every declared weight-norm layer (what VitsGenerator takes)."""
        return {rule.modules.pattern: rule.dim for rule in self.weight_norm_rules}


UNDECLARED = ...
"""What :func:`declared_dim` returns for a layer no weight-norm rule declares."""


def declared_dim(rules: tuple[WeightNormRule, ...], layer: str) -> int | None | EllipsisType:
    """The dim the first rule fully matching ``layer`` declares (None: one norm), or UNDECLARED."""
    for rule in rules:
        if rule.modules.fullmatch(layer):
            return rule.dim
    return UNDECLARED


class _Fields:
    """Reads a YAML mapping field by field and rejects anything unread or mistyped, naming file and field."""

    def __init__(self, data: Any, path: Path, where: str) -> None:
        if not isinstance(data, dict):
            raise SpecError(f"{path}: {where or 'top level'} must be a mapping, got {type(data).__name__}")
        self.data, self.path, self.where, self.seen = data, path, where, set()

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., *, required: bool = False) -> Any:
        self.seen.add(key)
        if key not in self.data or self.data[key] is None and default is not ...:
            if required or default is ...:
                raise SpecError(f"{self.path}: missing required field '{self._name(key)}'")
            return default
        value = self.data[key]
        if not isinstance(value, kind) or isinstance(value, bool) and bool not in _as_tuple(kind):
            names = "/".join(t.__name__ for t in _as_tuple(kind))
            raise SpecError(f"{self.path}: field '{self._name(key)}' must be {names}, got {type(value).__name__}")
        return value

    def regex(self, key: str, *, required: bool = True) -> re.Pattern[str] | None:
        text = self.get(key, str, None if not required else ..., required=required)
        return None if text is None else compile_pattern(text, self.path, self._name(key))

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise SpecError(f"{self.path}: unknown field(s) {', '.join(self._name(k) for k in unknown)}")


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def compile_pattern(text: str, path: Path | str, field: str) -> re.Pattern[str]:
    """Compile a full-match key pattern; a bad regex is a SpecError naming file and field."""
    try:
        return re.compile(text)
    except re.error as err:
        raise SpecError(f"{path}: field '{field}' is not a valid regular expression ({err}): {text!r}") from err


def _parse_rename(item: Any, path: Path, where: str) -> RenameRule:
    fields = _Fields(item, path, where)
    pattern = fields.regex("from")
    template = fields.get("to", str, required=True)
    raw_reindex = fields.get("reindex", (dict, list), None)
    reshape = fields.get("reshape", str, None)
    if reshape is not None and reshape not in RESHAPES:
        raise SpecError(f"{path}: field '{where}.reshape' must be one of {', '.join(RESHAPES)}, got {reshape!r}")
    raw_when = fields.get("when", dict, None)
    when = when_inverse = None
    if raw_when is not None:
        sub = _Fields(raw_when, path, f"{where}.when")
        when = sub.regex("source")
        when_inverse = sub.regex("target")
        sub.finish()
    fields.finish()
    refs = [int(n) for n in re.findall(r"\\(\d+)", template)]
    if any(ref < 1 or ref > pattern.groups for ref in refs):
        raise SpecError(f"{path}: field '{where}.to' refers to a group that '{where}.from' does not capture")
    reindex = []
    for j, entry in enumerate([raw_reindex] if isinstance(raw_reindex, dict) else raw_reindex or []):
        sub = _Fields(entry, path, f"{where}.reindex[{j}]")
        rule = Reindex(
            group=sub.get("group", int, required=True),
            add=sub.get("add", int, 0),
            div=sub.get("div", int, 1),
            mul=sub.get("mul", int, 1),
        )
        sub.finish()
        if not 1 <= rule.group <= pattern.groups or rule.div < 1 or rule.mul < 1:
            raise SpecError(f"{path}: field '{where}.reindex' needs a captured group, div >= 1 and mul >= 1")
        reindex.append(rule)
    return RenameRule(pattern, template, tuple(reindex), f"{path.name}: {where}", reshape, when, when_inverse)


def parse_rename_rules(rules: Any, origin: str = "rename") -> tuple[RenameRule, ...]:
    """Rename rules given in Python: ``{from: to}``, a list of YAML-style rule mappings, or RenameRule objects.

    ``origin`` names the rules in errors and in the load report.
    """
    if isinstance(rules, dict) and not {"from", "to"} <= set(rules):
        rules = [{"from": source, "to": target} for source, target in rules.items()]
    elif isinstance(rules, (dict, RenameRule)):
        rules = [rules]
    if not isinstance(rules, (list, tuple)):
        raise SpecError(f"{origin}: expected a mapping {{pattern: template}} or a list of rules, got {type(rules).__name__}")
    return tuple(
        rule if isinstance(rule, RenameRule) else _parse_rename(rule, Path(origin), f"{origin}[{i}]")
        for i, rule in enumerate(rules)
    )


def _parse_drop(item: Any, path: Path, where: str) -> DropRule:
    fields = _Fields(item, path, where)
    rule = DropRule(fields.regex("pattern"), fields.get("reason", str, required=True), f"{path.name}: {where}")
    fields.finish()
    return rule


def _parse_weight_norm(item: Any, path: Path, where: str) -> WeightNormRule:
    fields = _Fields(item, path, where)
    modules = fields.regex("modules")
    if "dim" not in item:
        raise SpecError(f"{path}: missing required field '{where}.dim' (an integer, or null for one norm)")
    dim = fields.get("dim", int, None)
    fields.finish()
    if dim is not None and dim < 0:
        raise SpecError(f"{path}: field '{where}.dim' must be >= 0 or null, got {dim}")
    return WeightNormRule(modules, dim, f"{path.name}: {where}")


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except (OSError, yaml.YAMLError) as err:
        raise SpecError(f"{path}: cannot read YAML ({err})") from err


def parse_adapter(path: Path) -> ComponentAdapter:
    """Parse ``configs/adapters/<component>/<variant>.yaml``."""
    fields = _Fields(_read_yaml(path), path, "")
    component = fields.get("component", str, required=True)
    if component not in COMPONENTS:
        raise SpecError(f"{path}: field 'component' must be one of {', '.join(COMPONENTS)}, got {component!r}")
    adapter = ComponentAdapter(
        component=component,
        variant=fields.get("variant", str, required=True),
        description=fields.get("description", str, ""),
        rename=tuple(_parse_rename(r, path, f"rename[{i}]") for i, r in enumerate(fields.get("rename", list, []))),
        drop=tuple(_parse_drop(r, path, f"drop[{i}]") for i, r in enumerate(fields.get("drop", list, []))),
        weight_norm=tuple(
            _parse_weight_norm(r, path, f"weight_norm[{i}]") for i, r in enumerate(fields.get("weight_norm", list, []))
        ),
        path=path,
    )
    fields.finish()
    return adapter


def parse_format(path: Path, adapters_dir: Path) -> FormatSpec:
    """Parse ``configs/formats/<name>.yaml`` and the component adapters it names."""
    fields = _Fields(_read_yaml(path), path, "")
    name = fields.get("name", str, required=True)
    if name != path.stem:
        raise SpecError(f"{path}: field 'name' ({name!r}) must equal the file name ({path.stem!r})")
    files = _Fields(fields.get("files", dict, required=True), path, "files")
    weight_files = tuple(files.get("weights", list, required=True))
    config_files = tuple(files.get("config", list, []))
    extra_files = tuple(files.get("extra", list, []))
    files.finish()
    raw_container = _Fields(fields.get("container", dict, {}), path, "container")
    container = ContainerSpec(
        state_dict_keys=tuple(raw_container.get("state_dict_keys", list, [])),
        bare_allowed=raw_container.get("bare_allowed", bool, True),
        strip_prefix=raw_container.get("strip_prefix", str, ""),
        ignore=dict(raw_container.get("ignore", dict, {})),
        config_key=raw_container.get("config_key", str, ""),
    )
    raw_container.finish()
    raw_detect = _Fields(fields.get("detect", dict, required=True), path, "detect")
    detect = DetectSpec(
        require=tuple(
            compile_pattern(p, path, f"detect.require[{i}]") for i, p in enumerate(raw_detect.get("require", list, required=True))
        ),
        forbid=tuple(compile_pattern(p, path, f"detect.forbid[{i}]") for i, p in enumerate(raw_detect.get("forbid", list, []))),
        metadata={str(k): str(v) for k, v in raw_detect.get("metadata", dict, {}).items()},
        forbid_metadata={str(k): str(v) for k, v in raw_detect.get("forbid_metadata", dict, {}).items()},
    )
    raw_detect.finish()
    raw_components = fields.get("components", dict, required=True)
    components = []
    for component, variant in raw_components.items():
        if component not in COMPONENTS:
            raise SpecError(f"{path}: field 'components.{component}' is not a known component ({', '.join(COMPONENTS)})")
        adapter_path = adapters_dir / component / f"{variant}.yaml"
        if not adapter_path.is_file():
            raise SpecError(f"{path}: field 'components.{component}' names {adapter_path}, which does not exist")
        adapter = parse_adapter(adapter_path)
        if adapter.component != component:
            raise SpecError(f"{adapter_path}: declares component {adapter.component!r}, expected {component!r}")
        components.append(adapter)
    spec = FormatSpec(
        name=name,
        description=fields.get("description", str, ""),
        weight_files=weight_files,
        config_files=config_files,
        extra_files=extra_files,
        config_reader=fields.get("config_reader", str, required=True),
        container=container,
        detect=detect,
        components=tuple(components),
        drop=tuple(_parse_drop(r, path, f"drop[{i}]") for i, r in enumerate(fields.get("drop", list, []))),
        path=path,
        fixed=_parse_fixed(fields.get("fixed", dict, {}), path),
    )
    fields.finish()
    return spec


def _parse_fixed(raw: dict[str, Any], path: Path) -> dict[str, tuple[Any, str]]:
    fixed = {}
    for name, item in raw.items():
        entry = _Fields(item, path, f"fixed.{name}")
        if "value" not in item:
            raise SpecError(f"{path}: missing required field 'fixed.{name}.value'")
        fixed[str(name)] = (item["value"], entry.get("why", str, required=True))
        entry.seen.add("value")
        entry.finish()
    return fixed
