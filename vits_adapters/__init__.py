"""vits-adapters: load any VITS-family checkpoint into one reference generator, prove every weight arrived."""

from .audio import Audio, AudioCheck, assert_audible, check_audio
from .errors import (
    CheckpointNotFoundError,
    CheckpointReadError,
    ConfigMismatchError,
    FormatDetectionError,
    InvalidInputError,
    KeyMappingError,
    ManifestError,
    SilentOutputError,
    SpecError,
    StateDictMismatchError,
    UnknownNameError,
    VitsAdapterError,
)
from .model.hparams import VitsHParams
from .model.vits import VitsGenerator
from .model_loading import load_state_dict
from .module_weight_norm import apply_weight_norm, fold_weight_norm, weight_layouts
from .pretrained import from_pretrained
from .report import LoadReport, TensorRecord
from .voice import Voice

__all__ = [
    "Audio",
    "AudioCheck",
    "CheckpointNotFoundError",
    "CheckpointReadError",
    "ConfigMismatchError",
    "FormatDetectionError",
    "InvalidInputError",
    "KeyMappingError",
    "LoadReport",
    "ManifestError",
    "SilentOutputError",
    "SpecError",
    "StateDictMismatchError",
    "TensorRecord",
    "UnknownNameError",
    "Voice",
    "VitsAdapterError",
    "VitsGenerator",
    "VitsHParams",
    "apply_weight_norm",
    "assert_audible",
    "check_audio",
    "fold_weight_norm",
    "from_pretrained",
    "load_state_dict",
    "weight_layouts",
]
