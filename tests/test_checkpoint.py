"""Tests for vits_adapters.io.checkpoint: container sniffing, safe pickle loading and clear read errors."""

from __future__ import annotations

import argparse
import builtins
import json
import os
import pathlib
import random
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from vits_adapters.io.checkpoint import (
    ALLOWED_PICKLE_GLOBALS,
    RawCheckpoint,
    iter_tensors,
    read_checkpoint,
)
from vits_adapters.errors import CheckpointNotFoundError, CheckpointReadError, VitsAdapterError


def _state_dict() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "enc_p.emb.weight": torch.randn(8, 4, generator=generator),
        "dec.conv_pre.bias": torch.randn(4, generator=generator),
        "dp.flows.0.logs": torch.zeros(2, 1, dtype=torch.float64),
    }


def _write_raw_safetensors(path: Path, header: dict, data: bytes) -> Path:
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data)
    return path


def _read_error(path: Path, **kwargs: bool) -> CheckpointReadError:
    with pytest.raises(CheckpointReadError) as info:
        read_checkpoint(path, **kwargs)
    assert isinstance(info.value, VitsAdapterError)
    return info.value


# --- successful reads -----------------------------------------------------------------------------------


def test_safetensors_round_trip_with_metadata(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    tensors = _state_dict()
    save_file(tensors, str(path), metadata={"format": "pt", "speaker": "ljs"})

    raw = read_checkpoint(path)

    assert isinstance(raw, RawCheckpoint)
    assert raw.container == "safetensors"
    assert raw.path == path
    assert raw.metadata == {"format": "pt", "speaker": "ljs"}
    assert raw.allowed_globals == ()
    assert raw.content.keys() == tensors.keys()
    for key, tensor in tensors.items():
        assert torch.equal(raw.content[key], tensor)
        assert raw.content[key].dtype == tensor.dtype


def test_trainer_style_pth_loads_with_weights_only(tmp_path: Path) -> None:
    path = tmp_path / "G_3.pth"
    model = _state_dict()
    optimizer = {"state": {0: {"step": torch.tensor(3.0)}}, "param_groups": [{"lr": 2e-4, "params": [0]}]}
    torch.save({"model": model, "iteration": 3, "optimizer": optimizer, "learning_rate": 2e-4}, path)

    raw = read_checkpoint(str(path))

    assert raw.container == "pickle"
    assert raw.metadata == {}
    assert raw.allowed_globals == ()
    assert raw.content["iteration"] == 3
    assert raw.content["learning_rate"] == 2e-4
    assert raw.content["optimizer"]["param_groups"][0]["lr"] == 2e-4
    for key, tensor in model.items():
        assert torch.equal(raw.content["model"][key], tensor)


def test_legacy_non_zip_torch_save_loads(tmp_path: Path) -> None:
    path = tmp_path / "legacy.pt"
    tensors = _state_dict()
    torch.save({"model": tensors, "iteration": 7}, path, _use_new_zipfile_serialization=False)
    assert not zipfile.is_zipfile(path)

    raw = read_checkpoint(path)

    assert raw.container == "pickle"
    assert raw.content["iteration"] == 7
    assert all(torch.equal(raw.content["model"][k], v) for k, v in tensors.items())


def test_content_sniffing_beats_the_suffix(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    save_file(_state_dict(), str(path))

    assert read_checkpoint(path).container == "safetensors"


def test_iter_tensors_flattens_nested_dicts() -> None:
    a, b, c = torch.zeros(1), torch.ones(2), torch.full((3,), 2.0)
    nested = {"model": {"enc": {"w": a, "n": 3}, "dec": {0: b}}, "step": 10, "name": "x", "top": c}

    flat = dict(iter_tensors(nested))

    assert list(flat) == ["model.enc.w", "model.dec.0", "top"]
    assert flat["model.enc.w"] is a and flat["model.dec.0"] is b and flat["top"] is c
    assert dict(iter_tensors(nested["model"], prefix="generator")).keys() == {
        "generator.enc.w",
        "generator.dec.0",
    }
    assert list(iter_tensors([a, b])) == []


# --- unreadable inputs ----------------------------------------------------------------------------------


def test_missing_path_is_not_found(tmp_path: Path) -> None:
    path = tmp_path / "nope.pth"
    with pytest.raises(CheckpointNotFoundError, match="nope.pth") as info:
        read_checkpoint(path)
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, VitsAdapterError)


def test_folder_is_refused_and_candidates_listed(tmp_path: Path) -> None:
    (tmp_path / "G_100.pth").write_bytes(b"x")
    error = _read_error(tmp_path)
    assert "is a folder; pass a file" in str(error)
    assert "G_100.pth" in str(error)


def _zero_byte(tmp_path: Path) -> Path:
    path = tmp_path / "empty.pth"
    path.write_bytes(b"")
    return path


def _truncated_pth(tmp_path: Path) -> Path:
    path = tmp_path / "cut.pth"
    torch.save({"model": _state_dict()}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _truncated_legacy_pth(tmp_path: Path) -> Path:
    path = tmp_path / "cut_legacy.pth"
    torch.save({"model": _state_dict()}, path, _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _truncated_safetensors(tmp_path: Path) -> Path:
    path = tmp_path / "cut.safetensors"
    save_file(_state_dict(), str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 16])
    return path


def _truncated_safetensors_header(tmp_path: Path) -> Path:
    path = tmp_path / "cut_header.safetensors"
    save_file(_state_dict(), str(path))
    path.write_bytes(path.read_bytes()[:40])
    return path


def _random_bytes(tmp_path: Path) -> Path:
    path = tmp_path / "noise.pth"
    path.write_bytes(b"\x00\x13\xfe\xff" + random.Random(0).randbytes(2048))
    return path


def _json_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.pth"
    path.write_text(json.dumps({"model": {"hidden_channels": 192}, "data": {"sampling_rate": 22050}}))
    return path


def _yaml_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.ckpt"
    path.write_text("# training config\nmodel:\n  hidden_channels: 192\ndata:\n  sampling_rate: 22050\n")
    return path


def _lfs_pointer(tmp_path: Path) -> Path:
    path = tmp_path / "model.safetensors"
    path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n")
    return path


def _zip_without_pickle(tmp_path: Path) -> Path:
    path = tmp_path / "bundle.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    return path


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (_zero_byte, "empty file"),
        (_truncated_pth, "corrupt or truncated"),
        (_truncated_legacy_pth, "corrupt or truncated"),
        (_truncated_safetensors, "truncated safetensors file"),
        (_truncated_safetensors_header, "truncated safetensors file"),
        (_random_bytes, "unrecognised binary content"),
        (_json_file, "looks like a JSON file, not a checkpoint: pass the weights file, and the config with config="),
        (_yaml_file, "looks like a YAML file"),
        (_lfs_pointer, "Git LFS pointer"),
        (_zip_without_pickle, "without data.pkl"),
    ],
)
def test_unreadable_files_raise_specific_errors(tmp_path: Path, make, expected: str) -> None:
    path = make(tmp_path)
    error = _read_error(path)
    assert expected in str(error)
    assert str(path) in str(error)


def test_safetensors_header_lying_about_size_names_the_tensor(tmp_path: Path) -> None:
    header = {
        "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 16]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [16, 24]},
    }
    path = _write_raw_safetensors(tmp_path / "lying.safetensors", header, bytes(24))
    error = _read_error(path)
    assert "'a'" in str(error) and "lies about its size" in str(error)


def test_safetensors_header_lying_about_offsets_names_the_tensor(tmp_path: Path) -> None:
    header = {
        "a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
        "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]},
    }
    path = _write_raw_safetensors(tmp_path / "overlap.safetensors", header, bytes(32))
    error = _read_error(path)
    assert "lies about offsets" in str(error) and "'b'" in str(error) and "overlaps" in str(error)


def test_safetensors_header_beyond_the_data_is_truncation(tmp_path: Path) -> None:
    header = {"w": {"dtype": "F64", "shape": [10], "data_offsets": [0, 80]}}
    path = _write_raw_safetensors(tmp_path / "short.safetensors", header, bytes(40))
    error = _read_error(path)
    assert "truncated" in str(error) and "'w'" in str(error)


def test_safetensors_header_with_unknown_dtype_and_bad_json(tmp_path: Path) -> None:
    header = {"w": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}
    path = _write_raw_safetensors(tmp_path / "dtype.safetensors", header, bytes(16))
    assert "unknown dtype 'F128'" in str(_read_error(path))

    broken = tmp_path / "broken.safetensors"
    body = b'{"w": {"dtype": "F32",,,}}'
    broken.write_bytes(struct.pack("<Q", len(body)) + body)
    assert "header is not valid JSON" in str(_read_error(broken))


# --- pickle globals -------------------------------------------------------------------------------------


def _lightning_checkpoint(path: Path, **save_kwargs: int) -> dict:
    hyper_parameters = {"data_dir": pathlib.PosixPath("/data/ljs"), "lr": np.float64(2e-4)}
    payload = {"state_dict": _state_dict(), "epoch": 4, "hyper_parameters": hyper_parameters}
    torch.save(payload, path, **save_kwargs)
    return payload


def test_unsupported_globals_are_refused_by_default(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    _lightning_checkpoint(path)

    message = str(_read_error(path))

    assert "pathlib.PosixPath" in message
    assert "numpy._core.multiarray.scalar" in message or "numpy.core.multiarray.scalar" in message
    assert "numpy.dtype" in message
    assert "trust_pickle=True" in message and "argparse.Namespace" in message
    assert "safetensors" in message


def test_trust_pickle_allows_only_allowlisted_harmless_types(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    payload = _lightning_checkpoint(path)

    raw = read_checkpoint(path, trust_pickle=True)

    assert "pathlib.PosixPath" in raw.allowed_globals
    assert "numpy.dtype" in raw.allowed_globals
    assert set(raw.allowed_globals) <= set(ALLOWED_PICKLE_GLOBALS)
    hparams = raw.content["hyper_parameters"]
    assert hparams["data_dir"] == pathlib.PosixPath("/data/ljs")
    assert hparams["lr"] == np.float64(2e-4) and isinstance(hparams["lr"], np.float64)
    assert torch.equal(raw.content["state_dict"]["enc_p.emb.weight"], payload["state_dict"]["enc_p.emb.weight"])
    # The allowlist was scoped to that one load.
    assert "pathlib.PosixPath" in str(_read_error(path))


def test_trust_pickle_handles_namespace_and_numpy_scalars_in_legacy_files(tmp_path: Path) -> None:
    path = tmp_path / "legacy_args.pth"
    args = argparse.Namespace(batch=np.int64(16), fp16=np.bool_(True), scale=np.float32(0.5))
    torch.save({"model": _state_dict(), "args": args}, path, _use_new_zipfile_serialization=False)

    assert "argparse.Namespace" in str(_read_error(path))
    raw = read_checkpoint(path, trust_pickle=True)

    assert raw.content["args"] == args
    assert "argparse.Namespace" in raw.allowed_globals


def test_stack_global_pickles_are_scanned(tmp_path: Path) -> None:
    path = tmp_path / "proto4.ckpt"
    with pytest.warns(UserWarning, match="protocol 4"):
        _lightning_checkpoint(path, pickle_protocol=4)
        message = str(_read_error(path))
    assert "pathlib.PosixPath" in message


class _RunsShell:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class _RunsExec:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize("trust_pickle", [False, True])
@pytest.mark.parametrize(
    ("payload_class", "global_name", "legacy"),
    [
        (_RunsShell, f"{os.system.__module__}.system", False),
        (_RunsExec, "builtins.exec", False),
        (_RunsExec, "builtins.exec", True),
    ],
)
def test_malicious_pickles_never_execute(
    tmp_path: Path, payload_class: type, global_name: str, legacy: bool, trust_pickle: bool
) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    payload = {"model": {"w": torch.zeros(2)}, "hook": payload_class(marker)}
    torch.save(payload, path, _use_new_zipfile_serialization=not legacy)
    assert not marker.exists()

    message = str(_read_error(path, trust_pickle=trust_pickle))

    assert global_name in message
    assert "nothing was imported or executed" in message
    assert not marker.exists()


def test_allowlist_is_small_and_harmless() -> None:
    assert {"pathlib.PosixPath", "pathlib.PureWindowsPath", "argparse.Namespace", "numpy.dtype"} <= set(
        ALLOWED_PICKLE_GLOBALS
    )
    assert {"numpy.dtypes.Float64DType", "numpy.dtypes.Int32DType", "numpy.dtypes.BoolDType"} <= set(
        ALLOWED_PICKLE_GLOBALS
    )
    forbidden_modules = {"os", "posix", "nt", "sys", "builtins", "subprocess", "collections", "torch"}
    assert not {name.rsplit(".", 1)[0] for name in ALLOWED_PICKLE_GLOBALS} & forbidden_modules
