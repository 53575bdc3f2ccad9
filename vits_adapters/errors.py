"""The exception hierarchy of vits-adapters."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

MAX_LISTED = 20


def format_keys(keys: Iterable[str], limit: int = MAX_LISTED) -> str:
    """Sorted keys, one per indented line, capped at ``limit`` with a "(+N more)" line."""
    ordered = sorted(keys)
    lines = [f"  {key}" for key in ordered[:limit]]
    if len(ordered) > limit:
        lines.append(f"  (+{len(ordered) - limit} more)")
    return "\n".join(lines)


def format_chars(chars: Sequence[str], limit: int = MAX_LISTED) -> str:
    """Characters with their code points, comma-separated, capped at ``limit`` with "(+N more)"."""
    listed = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in chars[:limit])
    return listed + (f" (+{len(chars) - limit} more)" if len(chars) > limit else "")


class VitsAdapterError(Exception):
    """Base class of every error raised by vits-adapters."""


class SpecError(VitsAdapterError, ValueError):
    """A YAML spec or config is malformed: unknown field, bad pattern, wrong type."""


class UnknownConfigFieldError(SpecError):
    """A config holds fields that are neither read nor known to be inert; ``.fields`` names them as written."""

    def __init__(self, message: str, *, fields: Iterable[str]) -> None:
        self.fields = sorted(fields)
        super().__init__(message)


class AmbiguousConfigError(SpecError):
    """Several config files beside a checkpoint could be its config, and they differ."""


class ManifestError(SpecError):
    """A regression manifest is malformed: the message names the case and the field."""


class UnknownNameError(VitsAdapterError, KeyError):
    """A format, adapter or command name is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class CheckpointNotFoundError(VitsAdapterError, FileNotFoundError):
    """The checkpoint is missing locally, not cached while offline, or absent on the Hub."""


class CheckpointReadError(VitsAdapterError):
    """A checkpoint file is corrupt, truncated, or needs unsafe pickle globals."""


class FormatDetectionError(VitsAdapterError):
    """No format spec, or more than one, matches a checkpoint."""


class KeyMappingError(VitsAdapterError):
    """Source keys are unmapped, ambiguous or colliding, or a weight-norm dim does not fit."""


class ConfigMismatchError(VitsAdapterError, ValueError):
    """Hyperparameters from a config disagree with what the tensors determine."""


class StateDictMismatchError(VitsAdapterError):
    """Converted tensors do not fill the model exactly: missing, unexpected or mis-shaped keys."""

    def __init__(
        self,
        message: str,
        *,
        missing: Iterable[str] = (),
        unexpected: Iterable[str] = (),
        mismatched: Iterable[str] = (),
    ) -> None:
        self.message = message
        self.missing = sorted(missing)
        self.unexpected = sorted(unexpected)
        self.mismatched = sorted(mismatched)
        parts = [message]
        for label, keys in (
            ("missing", self.missing),
            ("unexpected", self.unexpected),
            ("mis-shaped", self.mismatched),
        ):
            if keys:
                parts.append(f"{label} ({len(keys)}):\n{format_keys(keys)}")
        super().__init__("\n".join(parts))

    def named(self, name: Callable[[str], str]) -> StateDictMismatchError:
        """The same error with missing and unexpected keys renamed by ``name`` (e.g. to the file's own names)."""
        return type(self)(
            self.message,
            missing=map(name, self.missing),
            unexpected=map(name, self.unexpected),
            mismatched=self.mismatched,
        )


class InvalidInputError(VitsAdapterError, ValueError):
    """A call's input is unusable: empty token sequence, bad speaker id, unknown symbols, bad option value."""


class SpeakerEmbeddingRequiredError(InvalidInputError):
    """The voice is conditioned on an external speaker embedding (a d-vector) and none was passed."""


class SilentOutputError(VitsAdapterError):
    """Synthesized audio is silent, too short, or not finite."""


class MissingDependencyError(VitsAdapterError, ImportError):
    """An optional dependency is not installed; the message names the extra that provides it."""


class OnnxExportError(VitsAdapterError):
    """An ONNX export failed, or the exported model disagrees with the PyTorch generator it came from."""
