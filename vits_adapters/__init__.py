"""vits-adapters: load any VITS-family checkpoint into one reference generator, prove every weight arrived."""

from .audio import Audio, AudioCheck, assert_audible, check_audio
from .errors import (
    AmbiguousConfigError,
    CheckpointNotFoundError,
    CheckpointReadError,
    ConfigMismatchError,
    FormatDetectionError,
    InvalidInputError,
    SpeakerEmbeddingRequiredError,
    KeyMappingError,
    ManifestError,
    MissingDependencyError,
    OnnxExportError,
    SilentOutputError,
    SpecError,
    StateDictMismatchError,
    UnknownConfigFieldError,
    UnknownNameError,
    VitsAdapterError,
)
from .model.hparams import VitsHParams
from .model.vits import VitsGenerator
from .model_loading import load_state_dict
from .module_weight_norm import apply_weight_norm, fold_weight_norm, weight_layouts
from .onnx_export import export_onnx
from .onnx_synth import load_onnx_session, run_onnx
from .pretrained import from_pretrained
from .report import LoadReport, TensorRecord
from .voice import Voice

__all__ = [
    "AmbiguousConfigError",
    "Audio",
    "AudioCheck",
    "CheckpointNotFoundError",
    "CheckpointReadError",
    "ConfigMismatchError",
    "FormatDetectionError",
    "InvalidInputError",
    "SpeakerEmbeddingRequiredError",
    "KeyMappingError",
    "LoadReport",
    "ManifestError",
    "MissingDependencyError",
    "OnnxExportError",
    "SilentOutputError",
    "SpecError",
    "StateDictMismatchError",
    "TensorRecord",
    "UnknownConfigFieldError",
    "UnknownNameError",
    "VitsAdapterError",
    "VitsGenerator",
    "VitsHParams",
    "Voice",
    "apply_weight_norm",
    "assert_audible",
    "check_audio",
    "export_onnx",
    "fold_weight_norm",
    "from_pretrained",
    "load_onnx_session",
    "load_state_dict",
    "run_onnx",
    "weight_layouts",
]
