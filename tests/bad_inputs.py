"""The bad-input corpus: each case writes one broken input into a temporary folder and names the call it breaks.

Every case carries the exact error class it must raise and a regex its message must match. The good inputs the
cases start from come from :mod:`tests.bad_input_sources`; nothing is downloaded.
"""

from __future__ import annotations

import io
import json
import random
import re
import shutil
import struct
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from tests.bad_input_sources import (
    CONV_PRE,
    FORMATS,
    MULTI_SPEAKERS,
    MULTI_VOCAB,
    WEIGHTS_FILE,
    Sources,
    add_second_form,
    copy_of,
    edit_embedded_config,
    edit_json,
    edit_weights,
)

from vits_adapters import (
    AmbiguousConfigError,
    CheckpointNotFoundError,
    CheckpointReadError,
    ConfigMismatchError,
    FormatDetectionError,
    InvalidInputError,
    KeyMappingError,
    SpeakerEmbeddingRequiredError,
    SpecError,
    StateDictMismatchError,
    UnknownConfigFieldError,
    UnknownNameError,
    VitsAdapterError,
    from_pretrained,
)
from vits_adapters.text.vits_tokenizer import RomanizationRequiredError


def _poison(value: float) -> Callable[[dict[str, torch.Tensor]], None]:
    def edit(state: dict[str, torch.Tensor]) -> None:
        for key in sorted(state):
            if key.endswith("conv_pre.weight") and "dec" in key:
                state[key] = state[key].clone()
                state[key].view(-1)[3] = value
    return edit


# --- the corpus -----------------------------------------------------------------------------------------------

Call = Callable[[], Any]
Builder = Callable[[Path, Sources], Call]


@dataclass(frozen=True)
class BadInput:
    """One corpus case: ``build`` writes the bad input and returns the call; it must raise ``error`` matching ``message``."""

    id: str
    build: Builder
    error: type[VitsAdapterError]
    message: str


def _load(path: Path, **kwargs: Any) -> Call:
    return lambda: from_pretrained(path, **kwargs)


def _file(name: str, data: bytes | Callable[[Path], None]) -> Builder:
    def build(tmp_path: Path, sources: Sources) -> Call:
        path = tmp_path / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            data(path)
        return _load(path)
    return build


def _truncate(fmt: str, keep: Callable[[int], int]) -> Builder:
    def build(tmp_path: Path, sources: Sources) -> Call:
        path = copy_of(sources, fmt, tmp_path) / WEIGHTS_FILE[fmt]
        data = path.read_bytes()
        path.write_bytes(data[: keep(len(data))])
        return _load(path)
    return build


def _raw_safetensors(header: dict[str, Any], data: bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        encoded = json.dumps(header).encode()
        encoded += b" " * (-len(encoded) % 8)
        path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data)
    return write


def _tar(path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("G_1.pth")
        info.size = 4
        archive.addfile(info, io.BytesIO(b"abcd"))
    path.write_bytes(buffer.getvalue())


def _zip_without_pickle(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("weights/readme.txt", "not a checkpoint")


def _classifier(suffix: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Flatten(), torch.nn.Linear(8, 10))
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if suffix == ".safetensors":
            save_file(state, str(path))
        else:
            torch.save(state, path)
    return write


def _weights(fmt: str, edit: Callable[[dict[str, torch.Tensor]], None], **kwargs: Any) -> Builder:
    def build(tmp_path: Path, sources: Sources) -> Call:
        return _load(edit_weights(copy_of(sources, fmt, tmp_path), fmt, edit), **kwargs)
    return build


def _config(fmt: str, edit: Callable[[dict[str, Any]], None]) -> Builder:
    def build(tmp_path: Path, sources: Sources) -> Call:
        folder = copy_of(sources, fmt, tmp_path)
        if fmt == "coqui":
            edit_embedded_config(folder, edit)
        else:
            edit_json(folder / "config.json", edit)
        return _load(folder)
    return build


def _drop(key: str) -> Callable[[dict[str, torch.Tensor]], None]:
    return lambda state: state.pop(key)


def _add(key: str, tensor: torch.Tensor) -> Callable[[dict[str, torch.Tensor]], None]:
    return lambda state: state.__setitem__(key, tensor)


def _grow(key: str) -> Callable[[dict[str, torch.Tensor]], None]:
    def edit(state: dict[str, torch.Tensor]) -> None:
        state[key] = torch.cat([state[key], state[key][:1]])
    return edit


def _unprefixed_duplicate(state: dict[str, torch.Tensor]) -> None:
    key = "model_g.dec.conv_pre.bias"
    state[key.removeprefix("model_g.")] = state[key].clone() + 1


def _set(*path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        for name in path[:-1]:
            data = data[name]
        data[path[-1]] = value
    return edit


def _delete(*path: str) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        for name in path[:-1]:
            data = data[name]
        del data[path[-1]]
    return edit


def _several(names: tuple[str, ...], fmt: str) -> Builder:
    def build(tmp_path: Path, sources: Sources) -> Call:
        folder = copy_of(sources, fmt, tmp_path)
        weights = folder / WEIGHTS_FILE[fmt]
        for name in names:
            shutil.copy(weights, folder / name)
        weights.unlink()
        return _load(folder)
    return build


def _synth(voice: str, *args: Any, **kwargs: Any) -> Builder:
    def build(tmp_path: Path, sources: Sources) -> Call:
        return lambda: getattr(sources, voice).synthesize(*args, **kwargs)
    return build


def _fewer_posterior_flows_written_as(fmt: str) -> Builder:
    """Our layout with the last of 4 posterior flows removed (3 left), then written as ``fmt``."""
    def build(tmp_path: Path, sources: Sources) -> Call:
        folder = edit_weights(copy_of(sources, "vits-adapters", tmp_path), "vits-adapters", lambda state: [
            state.pop(key) for key in sorted(state) if key.startswith("duration_predictor.post_flows.4.")])
        edit_json(folder / "config.json", _set("hparams", "sdp_post_n_flows", value=3))
        voice = from_pretrained(folder)
        return lambda: voice.save_pretrained(tmp_path / "out", format=fmt)
    return build


def _call(make: Callable[[Path, Sources], Any]) -> Builder:
    return lambda tmp_path, sources: lambda: make(tmp_path, sources)


_PICKLE_REFUSED = r"needs pickle globals that torch's weights-only loader does not allow \(nothing was imported or executed\)"
_NOT_FILLED = (
    r"the checkpoint does not fill the model exactly; nothing was loaded \(check that the config belongs to these "
    r"weights; strict=False loads what fits and lists the gaps in the report\)"
)
# A module name no rule of the layout knows.
_UNMAPPED = {
    "vits-original": "enc_x.proj",
    "transformers": "text_encoder.adapter",
    "piper": "model_g.enc_x.proj",
    "coqui": "text_encoder.adapter",
    "vits-adapters": "head.proj",
}
_NON_FINITE = r"1 tensor\(s\) hold NaN or Inf values; the checkpoint is corrupt .*\n  {key}$"


def _as_stored(stored: str, reference: str) -> str:
    return stored if stored == reference else f"{stored} (reference: {reference})"


def _format_cases() -> list[BadInput]:
    cases: list[BadInput] = []
    for fmt in FORMATS:
        conv_pre = CONV_PRE[fmt]
        # Errors name a tensor as the user's file stores it, with the reference name beside it where they differ.
        bias = _as_stored(f"{conv_pre}.bias", "decoder.conv_pre.bias")
        scale = _as_stored(f"{conv_pre}.scale", "decoder.conv_pre.scale")
        cases += [
            BadInput(
                f"{fmt}-missing-tensor", _weights(fmt, _drop(f"{conv_pre}.bias")), StateDictMismatchError,
                rf"^{_NOT_FILLED}\nmissing \(1\):\n  {re.escape(bias)}$",
            ),
            BadInput(
                f"{fmt}-mis-shaped-tensor", _weights(fmt, _grow(f"{conv_pre}.bias")), StateDictMismatchError,
                rf"^{_NOT_FILLED}\nmis-shaped \(1\):\n  {re.escape(bias)}: source \(\d+,\) vs model \(\d+,\)$",
            ),
            BadInput(
                f"{fmt}-extra-tensor", _weights(fmt, _add(f"{conv_pre}.scale", torch.ones(3))), StateDictMismatchError,
                rf"^{_NOT_FILLED}\nunexpected \(1\):\n  {re.escape(scale)}$",
            ),
            BadInput(
                f"{fmt}-unmapped-tensor", _weights(fmt, _add(f"{_UNMAPPED[fmt]}.weight", torch.ones(3))), KeyMappingError,
                rf"^1 source key\(s\) match no rename or drop rule of format '{fmt}' \({fmt}\.yaml\); a wrong format, "
                rf"or a layout this spec does not describe:\n  {re.escape(_UNMAPPED[fmt])}\.weight$",
            ),
            BadInput(
                f"{fmt}-nan-weight", _weights(fmt, _poison(float("nan"))), CheckpointReadError,
                _NON_FINITE.format(key=re.escape(f"{conv_pre}.weight")),
            ),
            BadInput(
                f"{fmt}-inf-weight", _weights(fmt, _poison(float("-inf"))), CheckpointReadError,
                _NON_FINITE.format(key=re.escape(f"{conv_pre}.weight")),
            ),
            BadInput(
                f"{fmt}-two-weight-norm-forms-in-one-layer", _weights(fmt, add_second_form), KeyMappingError,
                r"flow\.flows\.0\.wavenet\.in_layers\.0.*(plain|legacy|parametrized).*(plain|legacy|parametrized)",
            ),
        ]
    return cases


def _config_disagreement_cases() -> list[BadInput]:
    speakers = MULTI_SPEAKERS + 2
    vocab = MULTI_VOCAB + 1
    mismatch = r"disagrees with the checkpoint's tensors:\n  {field}: config says {given}, tensors say {actual}\n"
    return [
        BadInput(
            "vits-original-n-speakers-disagrees", _config("vits-original", _set("data", "n_speakers", value=speakers)),
            ConfigMismatchError, mismatch.format(field="n_speakers", given=speakers, actual=MULTI_SPEAKERS),
        ),
        BadInput(
            "transformers-num-speakers-disagrees", _config("transformers", _set("num_speakers", value=speakers)),
            ConfigMismatchError, mismatch.format(field="n_speakers", given=speakers, actual=MULTI_SPEAKERS),
        ),
        BadInput(
            "piper-num-speakers-disagrees", _config("piper", _set("num_speakers", value=speakers)),
            ConfigMismatchError, rf"the voice config says n_speakers={speakers} \(num_speakers\), the checkpoint {MULTI_SPEAKERS}; pass the voice config",
        ),
        BadInput(
            "coqui-speakers-disagree",
            _config("coqui", _set("speakers", value=[f"s{i}" for i in range(speakers)])),
            ConfigMismatchError, mismatch.format(field="n_speakers", given=speakers, actual=MULTI_SPEAKERS),
        ),
        BadInput(
            "vits-adapters-n-speakers-disagrees", _config("vits-adapters", _set("hparams", "n_speakers", value=speakers)),
            ConfigMismatchError, mismatch.format(field="n_speakers", given=speakers, actual=MULTI_SPEAKERS),
        ),
        BadInput(
            "transformers-vocab-size-disagrees", _config("transformers", _set("vocab_size", value=vocab)),
            ConfigMismatchError, mismatch.format(field="n_vocab", given=vocab, actual=MULTI_VOCAB),
        ),
        BadInput(
            "piper-num-symbols-disagrees", _config("piper", _set("num_symbols", value=vocab)),
            ConfigMismatchError, rf"the voice config says n_vocab={vocab} \(num_symbols\), the checkpoint {MULTI_VOCAB}; pass the voice config",
        ),
        BadInput(
            "coqui-num-chars-disagrees", _config("coqui", _set("model_args", "num_chars", value=vocab)),
            ConfigMismatchError, mismatch.format(field="n_vocab", given=vocab, actual=MULTI_VOCAB),
        ),
        BadInput(
            "vits-adapters-n-vocab-disagrees", _config("vits-adapters", _set("hparams", "n_vocab", value=vocab)),
            ConfigMismatchError, mismatch.format(field="n_vocab", given=vocab, actual=MULTI_VOCAB),
        ),
        BadInput(  # VitsConfig has one count for both chains of the stochastic duration predictor
            "transformers-num-flows-disagrees", _config("transformers", _set("duration_predictor_num_flows", value=3)),
            ConfigMismatchError, mismatch.format(field="sdp_n_flows", given=3, actual=4)
            + r"  sdp_post_n_flows: config says 3, tensors say 4\n",
        ),
    ]


def _piper_hyper_parameter(name: str, value: Any) -> Builder:
    def build(tmp_path: Path, sources: Sources) -> Call:
        folder = copy_of(sources, "piper", tmp_path)
        path = folder / WEIGHTS_FILE["piper"]
        content = torch.load(path, weights_only=True)
        content["hyper_parameters"][name] = value
        torch.save(content, path)
        return _load(folder)
    return build


def _config_field_cases() -> list[BadInput]:
    unknown = (
        r"config field\(s\) neither read nor known to be inert \(they may change the voice\):\n  {field}\n"
        r"fix the config \(remove or correct the field\), or pass strict=False \(CLI: --no-strict\) to load anyway "
        r"and see the field\(s\) in the report$"
    )
    return [
        BadInput(
            "vits-original-config-missing-model-section", _config("vits-original", _delete("model")),
            SpecError, r"an original VITS config needs a 'model' section",
        ),
        BadInput(
            "vits-original-config-extra-field", _config("vits-original", _set("model", "use_magic", value=True)),
            UnknownConfigFieldError, unknown.format(field=r"model\.use_magic"),
        ),
        BadInput(
            "vits-original-config-extra-data-field", _config("vits-original", _set("data", "use_magic", value=True)),
            UnknownConfigFieldError, unknown.format(field=r"data\.use_magic"),
        ),
        BadInput(
            "transformers-config-extra-field", _config("transformers", _set("use_magic", value=True)),
            UnknownConfigFieldError, unknown.format(field="use_magic"),
        ),
        BadInput(
            "piper-config-extra-hyper-parameter", _piper_hyper_parameter("use_magic", True),
            UnknownConfigFieldError, unknown.format(field=r"hyper_parameters\.use_magic"),
        ),
        BadInput(
            "coqui-config-extra-model-args-field", _config("coqui", _set("model_args", "use_magic", value=True)),
            UnknownConfigFieldError, unknown.format(field=r"model_args\.use_magic"),
        ),
        BadInput(
            "coqui-config-extra-audio-field", _config("coqui", _set("audio", "use_magic", value=True)),
            UnknownConfigFieldError, unknown.format(field=r"audio\.use_magic"),
        ),
        BadInput(
            "vits-original-config-wrong-type", _config("vits-original", _set("model", "hidden_channels", value="48")),
            SpecError, r"\[model\]: field 'hidden_channels' must be int, got str \('48'\)",
        ),
        BadInput(
            "transformers-config-missing-model-type", _config("transformers", _delete("model_type")),
            SpecError, r"not a transformers VITS config \(needs \"model_type\": \"vits\"\)",
        ),
        BadInput(
            "transformers-config-wrong-type", _config("transformers", _set("hidden_size", value="48")),
            SpecError, r"field 'hidden_size' must be int, got str \('48'\)",
        ),
        BadInput(
            "piper-config-wrong-type", _config("piper", _set("audio", "sample_rate", value="22050")),
            SpecError, r"field 'audio\.sample_rate' must be int, got str \('22050'\)",
        ),
        BadInput(
            "coqui-config-missing-model-args", _config("coqui", _delete("model_args")),
            SpecError, r"a Coqui VITS config needs a 'model_args' section",
        ),
        BadInput(
            "coqui-config-wrong-type", _config("coqui", _set("model_args", "hidden_channels", value=48.0)),
            SpecError, r"field 'model_args\.hidden_channels' must be int, got float \(48\.0\)",
        ),
        BadInput(
            "vits-adapters-config-missing-hparams", _config("vits-adapters", _delete("hparams")),
            SpecError, r"not a vits-adapters config \(needs \"format\": \"vits-adapters\" and an 'hparams' mapping\)",
        ),
        BadInput(
            "vits-adapters-config-extra-field", _config("vits-adapters", _set("hparams", "use_magic", value=True)),
            SpecError, r"config\.json: unknown VITS hyperparameter\(s\): hparams\.use_magic$",
        ),
        BadInput(
            "vits-adapters-config-wrong-type", _config("vits-adapters", _set("hparams", "upsample_rates", value="8,8,2,2")),
            SpecError, r"field 'hparams\.upsample_rates' must be a list of int, got str \('8,8,2,2'\)",
        ),
        BadInput(
            "config-not-json", _config_text("vits-original", "{\"model\": {"), SpecError,
            r"config\.json: cannot read the config as JSON \(",
        ),
    ]


def _config_text(fmt: str, text: str) -> Builder:
    def build(tmp_path: Path, sources: Sources) -> Call:
        folder = copy_of(sources, fmt, tmp_path)
        (folder / "config.json").write_text(text, encoding="utf-8")
        return _load(folder)
    return build


class _WritesMarker:
    """A pickle payload whose unpickling would create a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


def _code_executing_pickle(tmp_path: Path, sources: Sources) -> Call:
    path = tmp_path / "G_1.pth"
    torch.save({"model": {"w": torch.zeros(1)}, "hook": _WritesMarker(tmp_path / "marker")}, path)
    return _load(path, trust_pickle=True)


def _file_cases() -> list[BadInput]:
    header_lies = {"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 16]}}
    return [
        BadInput("zero-byte-pth", _file("G_1.pth", b""), CheckpointReadError, r"G_1\.pth: empty file \(0 bytes\); the download or copy probably failed$"),
        BadInput("zero-byte-safetensors", _file("model.safetensors", b""), CheckpointReadError, r"model\.safetensors: empty file \(0 bytes\)"),
        BadInput("truncated-pth", _truncate("vits-original", lambda n: n // 2), CheckpointReadError, r"G_1\.pth: corrupt or truncated torch checkpoint: "),
        BadInput("truncated-coqui-pth", _truncate("coqui", lambda n: n - 4096), CheckpointReadError, r"model\.pth: corrupt or truncated torch checkpoint: "),
        BadInput("truncated-ckpt", _truncate("piper", lambda n: n - 100), CheckpointReadError, r"generator\.ckpt: corrupt or truncated torch checkpoint: "),
        BadInput("truncated-safetensors", _truncate("vits-adapters", lambda n: n - 16), CheckpointReadError, r"model\.safetensors: truncated safetensors file: tensor '.+' ends at byte \d+ of the data section but only \d+ bytes are present$"),
        BadInput("truncated-safetensors-header", _truncate("transformers", lambda n: 64), CheckpointReadError, r"model\.safetensors: truncated safetensors file: the header alone needs \d+ bytes but the file has 64$"),
        BadInput("random-bytes", _file("G_1.pth", b"\x00\x13\xfe\xff" + random.Random(0).randbytes(4096)), CheckpointReadError, r"G_1\.pth: unrecognised binary content \(starts with 00 13 fe ff"),
        BadInput("json-as-checkpoint", _file("G_1.pth", b'{"model": {"hidden_channels": 192}}'), CheckpointReadError, r"G_1\.pth: looks like a JSON file, not a checkpoint: pass the weights file, and the config with config=$"),
        BadInput("yaml-as-checkpoint", _file("model.ckpt", b"model:\n  hidden_channels: 192\ndata:\n  sampling_rate: 22050\n"), CheckpointReadError, r"model\.ckpt: looks like a YAML file, not a checkpoint"),
        BadInput("html-as-checkpoint", _file("model.safetensors", b"<!DOCTYPE html><html><body>404</body></html>"), CheckpointReadError, r"looks like an HTML/XML page \(a failed download\?\), not a checkpoint$"),
        BadInput("git-lfs-pointer", _file("model.safetensors", b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 5\n"), CheckpointReadError, r"is a Git LFS pointer, not the weights: fetch the real file \(git lfs pull\)$"),
        BadInput("tar-archive", _file("G_1.pth", _tar), CheckpointReadError, r"looks like a tar archive, not a checkpoint: extract it and pass the weights file inside$"),
        BadInput("zip-without-pickle", _file("G_1.pth", _zip_without_pickle), CheckpointReadError, r"a zip archive without data\.pkl, so not a torch\.save checkpoint"),
        BadInput("safetensors-header-lies-about-size", _file("model.safetensors", _raw_safetensors(header_lies, bytes(16))), CheckpointReadError, r"header entry for tensor 'w' lies about its size: dtype F32 shape \[4, 4\] needs 64 bytes but data_offsets \[0, 16\] span 16$"),
        BadInput("safetensors-header-lies-about-offsets", _file("model.safetensors", _raw_safetensors({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}, "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, bytes(32))), CheckpointReadError, r"header lies about offsets: tensor 'b' starts at 8, which overlaps after tensor 'a' \(ends at 16\)$"),
        BadInput("image-classifier-pth", _file("model.pth", _classifier(".pth")), FormatDetectionError, r"model\.pth: no known checkpoint format matches\. Each candidate and why it was rejected:\n  vits-adapters: no key matches required pattern"),
        BadInput("image-classifier-safetensors", _file("model.safetensors", _classifier(".safetensors")), FormatDetectionError, r"  vits-original: no key matches required pattern 'enc_p\\\\\.emb\\\\\.weight'"),
        BadInput("pickle-of-a-list", _file("G_1.pth", lambda p: torch.save([torch.zeros(2)], p)), FormatDetectionError, r"vits-original: the checkpoint holds a list, not a dict"),
        BadInput("code-executing-pickle-trusted", _code_executing_pickle, CheckpointReadError, r"refused even with trust_pickle=True \(nothing was imported or executed\); it needs pickle globals outside the allowlist:\n  builtins\.exec\n"),
        BadInput("allowlisted-pickle-untrusted", _file("model.ckpt", lambda p: torch.save({"state_dict": {"w": torch.zeros(1)}, "path": Path("/data").absolute()}, p)), CheckpointReadError, _PICKLE_REFUSED + r":\n  pathlib\.(_local\.)?PosixPath\nAll of them are on the trust_pickle allowlist"),
    ]


def _resolution_cases() -> list[BadInput]:
    return [
        BadInput("missing-file", _call(lambda t, s: from_pretrained(t / "G_9.pth")), CheckpointNotFoundError, r"G_9\.pth: no such file or folder, and it is not a Hub repo id \(org/name\)$"),
        BadInput("empty-folder", _call(lambda t, s: from_pretrained(t)), CheckpointNotFoundError, r"no checkpoint file found \(files: \(empty\)\); looked for model\.safetensors, model\.pth, .*G_\*\.pth"),
        BadInput("unknown-format-name", _call(lambda t, s: from_pretrained(s.dirs["vits-original"], format="vits-orignal")), UnknownNameError, r"^unknown format 'vits-orignal'; known formats: vits-original"),
        BadInput("wrong-format-name", _call(lambda t, s: from_pretrained(s.dirs["vits-original"] / "G_1.pth", format="transformers")), FormatDetectionError, r"G_1\.pth: no known checkpoint format matches\. Each candidate and why it was rejected:\n  transformers: expected a flat dict of tensors; found entries: iteration, learning_rate, model, optimizer\n"),
        BadInput("unknown-save-format", _call(lambda t, s: s.single_voice.save_pretrained(t / "out", format="onnx")), SpecError, r"^cannot write format 'onnx'; choose one of vits-adapters, vits-original, transformers, piper, coqui$"),
        BadInput("vits-original-cannot-write-3-posterior-flows", _fewer_posterior_flows_written_as("vits-original"), SpecError, r"^the original VITS layout cannot represent these hyperparameters \(its code hard-codes them\):\n  sdp_post_n_flows=3 \(original: 4\)$"),
        BadInput("transformers-cannot-write-unequal-flow-counts", _fewer_posterior_flows_written_as("transformers"), SpecError, r"^transformers' VitsModel cannot represent this voice:\n  sdp_n_flows=4, sdp_post_n_flows=3 \(VitsConfig has one field for them: duration_predictor_num_flows\)$"),
        BadInput("unknown-weight-norm-mode", _call(lambda t, s: from_pretrained(s.single_dir, weight_norm="folded")), InvalidInputError, r"^weight_norm must be one of \('fold', 'keep', 'as-stored'\), got 'folded'$"),
        BadInput("several-vits-checkpoints", _several(("G_100.pth", "G_200.pth"), "vits-original"), FormatDetectionError, r"several candidate checkpoint files match 'G_\*\.pth':\n  G_100\.pth\n  G_200\.pth\nPass the file you want as the source\.$"),
        BadInput("several-piper-checkpoints", _several(("epoch=1.ckpt", "epoch=2.ckpt"), "piper"), FormatDetectionError, r"several candidate checkpoint files match '\*\.ckpt':\n  epoch=1\.ckpt\n  epoch=2\.ckpt"),
        BadInput("several-coqui-checkpoints", _several(("checkpoint_100.pth", "checkpoint_200.pth"), "coqui"), FormatDetectionError, r"several candidate checkpoint files match 'checkpoint_\*\.pth'"),
        BadInput("piper-two-source-keys-one-target", _weights("piper", _unprefixed_duplicate), KeyMappingError, r"two source keys name the same tensor once the container prefix 'model_g\.' is removed:\n  dec\.conv_pre\.bias <- dec\.conv_pre\.bias, model_g\.dec\.conv_pre\.bias"),
    ]


def _synthesis_cases() -> list[BadInput]:
    return [
        BadInput("symbols-text-only-unknown-characters", _synth("symbols_voice", "\u4f60\u597d\u2603"), InvalidInputError, r"^3 character\(s\) not in the symbol table original VITS \(jaywalnut310/vits text/symbols\.py\): '\u4f60' \(U\+4F60\), '\u597d' \(U\+597D\), '\u2603' \(U\+2603\)\. Cleaned text: '\u4f60\u597d\u2603'\. Pass on_unknown='drop' to skip them\.$"),
        BadInput("coqui-text-only-unknown-characters", _synth("coqui_voice", "\u4f60\u597d", speaker_id=0), InvalidInputError, r"^no known symbols in the text \(symbol table Coqui VitsCharacters vocabulary of 42 symbols\); input '你好' cleaned to '你好'; unknown characters: '你' \(U\+4F60\), '好' \(U\+597D\)"),
        BadInput("transformers-text-only-unknown-characters", _synth("transformers_voice", "\u2603\u2665", speaker_id=0), InvalidInputError, r"^no known symbols in the text \(symbol table .*vocab\.json\); input '\u2603\u2665' cleaned to '\u2603\u2665'; unknown characters: '\u2603' \(U\+2603\), '\u2665' \(U\+2665\)"),
        BadInput("transformers-text-needs-romanization", _synth("transformers_voice", "\u4f60\u597d", speaker_id=0), RomanizationRequiredError, r"^the text needs romanization: '\u4f60' \(U\+4F60\), '\u597d' \(U\+597D\) cannot be read by .*vocab\.json, which expects romanized text"),
        BadInput("empty-token-ids", _synth("multi_voice", token_ids=[], speaker_id=0), InvalidInputError, r"^the token sequence is empty: nothing to synthesize$"),
        BadInput("token-id-out-of-range", _synth("multi_voice", token_ids=[1, MULTI_VOCAB], speaker_id=0), InvalidInputError, rf"^token id\(s\) \[{MULTI_VOCAB}\] are outside the vocabulary \(0\.\.{MULTI_VOCAB - 1}\)$"),
        BadInput("negative-token-id", _synth("multi_voice", token_ids=[1, -2], speaker_id=0), InvalidInputError, r"token id\(s\) \[-2\] are outside the vocabulary"),
        BadInput("speaker-id-out-of-range", _synth("multi_voice", token_ids=[1, 2], speaker_id=MULTI_SPEAKERS), InvalidInputError, rf"^speaker_id must be an integer in 0\.\.{MULTI_SPEAKERS - 1}, got {MULTI_SPEAKERS}$"),
        BadInput("negative-speaker-id", _synth("multi_voice", token_ids=[1, 2], speaker_id=-1), InvalidInputError, rf"^speaker_id must be an integer in 0\.\.{MULTI_SPEAKERS - 1}, got -1$"),
        BadInput("missing-speaker-id", _synth("multi_voice", token_ids=[1, 2]), InvalidInputError, rf"^this model has {MULTI_SPEAKERS} speakers: pass speaker_id \(0\.\.{MULTI_SPEAKERS - 1}\)$"),
        BadInput("speaker-id-for-single-speaker", _synth("single_voice", token_ids=[1, 2], speaker_id=0), InvalidInputError, r"^this is a single-speaker model; do not pass speaker_id \(got 0\)$"),
        BadInput("text-and-token-ids", _synth("single_voice", "hi", token_ids=[1]), InvalidInputError, r"^pass exactly one of text or token_ids$"),
        BadInput("text-without-symbol-table", _synth("single_voice", "hello"), InvalidInputError, r"carries no symbol table; pass token_ids=\[\.\.\.\] instead of text$"),
    ]


def _tableless_voice(tmp_path: Path, sources: Sources) -> Any:
    """The multi-speaker original checkpoint without its speaker table: conditioned on a d-vector it is not given."""
    source = sources.dirs["vits-original"]
    checkpoint = torch.load(source / "G_1.pth", weights_only=True)
    del checkpoint["model"]["emb_g.weight"]
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    config["data"]["n_speakers"] = 0
    torch.save(checkpoint, tmp_path / "G_1.pth")
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    voice = from_pretrained(tmp_path)
    return lambda: voice.synthesize(token_ids=[1, 2, 3], seed=0)


def _undeclared_pair(tmp_path: Path, sources: Sources) -> Any:
    """Our layout with the text encoder's projection (never weight-normed) stored as a (g, v) pair."""
    shutil.copytree(sources.dirs["vits-adapters"], tmp_path / "ours")
    path = tmp_path / "ours" / "model.safetensors"
    state = load_file(path)
    weight = state.pop("text_encoder.project.weight")
    state["text_encoder.project.weight_g"] = torch.linalg.vector_norm(weight, dim=(1, 2), keepdim=True)
    state["text_encoder.project.weight_v"] = weight
    save_file(state, path, metadata={"format": "vits-adapters", "weight_norm": "plain"})
    return lambda: from_pretrained(tmp_path / "ours")


def _two_piper_configs(tmp_path: Path, sources: Sources) -> Any:
    """A Piper checkpoint with its voice config and, beside it, the original trainer's (different) config.json."""
    folder = tmp_path / "piper"
    shutil.copytree(sources.dirs["piper"], folder)
    (folder / "config.json").rename(folder / "voice.onnx.json")
    shutil.copy(sources.dirs["vits-original"] / "config.json", folder / "config.json")
    return lambda: from_pretrained(folder)


def _trust_cases() -> list[BadInput]:
    return [
        BadInput(
            "piper-two-differing-configs", _two_piper_configs, AmbiguousConfigError,
            r"piper: several config files could belong to this piper checkpoint and they differ:\n  voice\.onnx\.json\n"
            r"  config\.json\nPass the right one with config=\.\.\., or remove the others\.$",
        ),
        BadInput(
            "speaker-embedding-required",
            _tableless_voice,
            SpeakerEmbeddingRequiredError,
            r"^this voice is conditioned on a \d+-dim speaker embedding \(gin_channels=\d+\) but the checkpoint has no "
            r"speaker table: it expects an external speaker embedding \(a YourTTS-style d-vector from a speaker "
            r"encoder\); pass speaker_embedding=\[\d+ floats\]$",
        ),
        BadInput(
            "undeclared-weight-norm-pair", _undeclared_pair, KeyMappingError,
            r"^text_encoder\.project\.weight_g and text_encoder\.project\.weight_v: the file stores this layer as a "
            r"weight-norm pair, but the format's YAML declares no weight norm for it, so the dim the pair was made "
            r"with is unknown; declare it \(weight_norm: in the component adapter\) or fold the pair",
        ),
    ]


CORPUS: tuple[BadInput, ...] = (
    *_file_cases(),
    *_format_cases(),
    *_config_disagreement_cases(),
    *_config_field_cases(),
    *_resolution_cases(),
    *_trust_cases(),
    *_synthesis_cases(),
)
