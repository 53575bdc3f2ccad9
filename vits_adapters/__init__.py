"""vits-adapters: load any VITS-family checkpoint into one reference generator, prove every weight arrived."""

from .audio import Audio, AudioCheck, assert_audible, check_audio
from .errors import (
    CheckpointNotFoundError,
    CheckpointReadError,
    ConfigMismatchError,
    FormatDetectionError,
    InvalidInputError,
    KeyMappingError,
    MissingDependencyError,
    OnnxExportError,
    SilentOutputError,
    SpecError,
    StateDictMismatchError,
    UnknownNameError,
    VitsAdapterError,
)
from .model.hparams import VitsHParams
from .model.vits import VitsGenerator
from .onnx_export import export_onnx
from .onnx_synth import load_onnx_session, run_onnx
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
    "MissingDependencyError",
    "OnnxExportError",
    "SilentOutputError",
    "SpecError",
    "StateDictMismatchError",
    "TensorRecord",
    "UnknownNameError",
    "Voice",
    "VitsAdapterError",
    "VitsGenerator",
    "VitsHParams",
    "assert_audible",
    "check_audio",
    "export_onnx",
    "from_pretrained",
    "load_onnx_session",
    "run_onnx",
]
