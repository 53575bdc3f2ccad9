"""vits-adapters: load any VITS-family checkpoint into one reference generator, prove every weight arrived."""

from .audio.waveform import Audio, AudioCheck, assert_audible, check_audio
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
from .arch.vits.hparams import VitsHParams
from .arch.vits.generator import VitsGenerator
from .weightnorm.load_state_dict import load_state_dict
from .weightnorm.modules import apply_weight_norm, fold_weight_norm, weight_layouts
from .onnx.export import export_onnx
from .onnx.run import load_onnx_session, run_onnx
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
