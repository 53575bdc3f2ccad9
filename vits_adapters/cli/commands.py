"""The ``vits-adapters`` subcommands: each turns parsed arguments into a CommandOutput (text and JSON data)."""

from __future__ import annotations

import argparse
import re
import textwrap
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .exit_codes import EXIT_REGRESSION, exit_code_for
from ..formats.writer import default_weight_norm
from ..arch.vits.hparams import VitsHParams
from ..voice import Voice
from ..weightnorm.tensors import group_weight_keys

TEXT_WIDTH = 100


@dataclass(frozen=True)
class CommandOutput:
    """What a command prints: ``text`` for people, ``data`` for ``--json``."""

    text: str
    data: dict[str, Any]
    exit_code: int = 0


def _load(
    args: argparse.Namespace, *, strict: bool, weight_norm: str = "fold", source: str | None = None, dtype: str = "fp32"
) -> Voice:
    from ..pretrained import from_pretrained

    return from_pretrained(
        args.source if source is None else source,
        config=args.config,
        format=args.format,
        revision=args.revision,
        cache_dir=args.cache_dir,
        local_files_only=args.local_files_only,
        token=args.token,
        force_download=args.force_download,
        weight_norm=weight_norm,
        strict=strict,
        trust_pickle=args.trust_pickle,
        dtype=dtype,
    )


def _layer_group(name: str) -> str:
    return re.sub(r"\.\d+(?=\.|$)", ".*", name)


def _source_forms_by_group(voice: Voice) -> dict[str, dict[str, int]]:
    """Source weight-norm form counts per group of weight-norm layers (``decoder.upsampler.*``...)."""
    layers = set(voice.generator.weight_norm_layer_names())
    groups: dict[str, Counter[str]] = {}
    for record in voice.report.records:
        if record.action not in ("mapped", "converted"):
            continue
        source_forms = set(group_weight_keys(record.source).values())
        if len(source_forms) != 1:
            continue
        (form,) = source_forms
        for prefix in group_weight_keys(record.target):
            if prefix in layers:
                groups.setdefault(_layer_group(prefix), Counter())[form] += 1
    return {group: dict(sorted(counts.items())) for group, counts in groups.items()}


def _hparam_rows(voice: Voice) -> dict[str, dict[str, Any]]:
    report = voice.report
    rows = {}
    for item in fields(VitsHParams):
        if item.name == "extra":
            continue
        provenance = report.hparams_provenance.get(item.name, "default")
        row: dict[str, Any] = {"value": getattr(voice.config, item.name), "provenance": provenance}
        if item.name in report.assumed:
            row["assumed"] = report.assumed[item.name]
        rows[item.name] = row
    return rows


def cmd_inspect(args: argparse.Namespace) -> CommandOutput:
    voice = _load(args, strict=not args.no_strict, weight_norm=args.weight_norm_mode)
    report = voice.report
    components = {name: sum(p.numel() for p in child.parameters()) for name, child in voice.generator.named_children()}
    total = sum(p.numel() for p in voice.generator.parameters())
    groups = _source_forms_by_group(voice)
    hparams = _hparam_rows(voice)
    lines = [
        f"format: {report.format}",
        "files:",
        *(f"  {path}" for path in report.files),
        f"revision: {report.revision or '(local files, no revision)'}",
        "components (parameters):",
        *(f"  {name:<20} {count:>12,}" for name, count in components.items()),
        f"  {'total':<20} {total:>12,}",
        "weight-norm form in the source, per layer group:",
    ]
    width = max((len(group) for group in groups), default=0)
    for group, counts in groups.items():
        lines.append(f"  {group:<{width}}  " + ", ".join(f"{n} {form}" for form, n in counts.items()))
    if not groups:
        lines.append("  (no weight-norm layers)")
    lines.append("hyperparameters (value [provenance]; ASSUMED = no tensor or config gives it):")
    for name, row in hparams.items():
        tag = f"ASSUMED: {row['assumed']}" if "assumed" in row else row["provenance"]
        lines.append(f"  {name} = {row['value']!r}  [{tag}]")
    lines += [
        f"sample rate: {voice.sample_rate} Hz, hop length: {voice.config.hop_length} samples",
        "",
        report.summary(),
    ]
    data = {
        "format": report.format,
        "files": list(report.files),
        "revision": report.revision,
        "components": components,
        "parameters": total,
        "source_weight_norm": {"total": dict(report.source_forms), "groups": groups},
        "hparams": hparams,
        "sample_rate": voice.sample_rate,
        "hop_length": voice.config.hop_length,
        "report": report.to_dict(),
    }
    return CommandOutput("\n".join(lines), data)


def cmd_convert(args: argparse.Namespace) -> CommandOutput:
    if len(args.source) > 1 or Path(args.source[0]).is_dir() and args.batch:
        return _convert_batch(args)
    voice, weight_norm, written = _convert_one(args, args.source[0], Path(args.out_dir))
    text = "\n".join(
        [f"wrote {args.to} ({weight_norm} weight norm):", *(f"  {p}" for p in written), "", voice.report.summary()]
    )
    data = {
        "to": args.to,
        "weight_norm": weight_norm,
        "written": [str(p) for p in written],
        "report": voice.report.to_dict(),
    }
    return CommandOutput(text, data)


def _convert_batch(args: argparse.Namespace) -> CommandOutput:
    from .batch_convert import convert_many, expand_sources, plan_outputs

    plan = plan_outputs(expand_sources(args.source) if args.batch else list(args.source), args.out_dir)
    items = convert_many(plan, lambda src, out: _convert_one(args, src, out)[2], progress=False if args.quiet else None)
    failed = [item for item in items if item.error is not None]
    lines = [f"converted {len(items) - len(failed)} of {len(items)} checkpoint(s) to {args.to}:"]
    for item in items:
        outcome = f"FAILED: {type(item.error).__name__}: {item.error}" if item.error else f"-> {item.out_dir}"
        lines.append(f"  {item.source} {outcome}")
    data = {"to": args.to, "items": [item.to_dict() for item in items], "failed": [item.source for item in failed]}
    return CommandOutput("\n".join(lines), data, exit_code=exit_code_for(failed[0].error) if failed else 0)


def _convert_one(args: argparse.Namespace, source: str, out_dir: Path) -> tuple[Voice, str, list[Path]]:
    # Each stored (g, v) pair is held as it is, so a pair the target stores the same way is copied untouched.
    voice = _load(args, strict=True, weight_norm="as-stored", source=source)
    weight_norm = args.weight_norm or default_weight_norm(voice, args.to)
    written = voice.save_pretrained(out_dir, format=args.to, weight_norm=weight_norm, overwrite=args.overwrite)
    return voice, weight_norm, written


def cmd_synth(args: argparse.Namespace) -> CommandOutput:
    from ..audio.waveform import check_audio

    voice = _load(args, strict=not args.no_strict, weight_norm=args.weight_norm_mode, dtype=args.dtype)
    audio = voice.synthesize(
        args.text,
        token_ids=args.tokens,
        speaker_id=args.speaker,
        noise_scale=args.noise_scale,
        noise_scale_w=args.noise_scale_w,
        length_scale=args.length_scale,
        seed=args.seed,
        check=not args.no_check,
    )
    path = audio.save(args.output, overwrite=args.overwrite)
    check = check_audio(audio)
    lines = [f"wrote {path}: {audio.duration:.3f} s at {audio.sample_rate} Hz", f"check: {check.summary()}"]
    if not voice.report.strict or not voice.report.complete:
        lines += ["", voice.report.summary()]
    data = {
        "output": str(path),
        "duration": audio.duration,
        "sample_rate": audio.sample_rate,
        "check": check.to_dict(),
        "report": voice.report.to_dict(),
    }
    return CommandOutput("\n".join(lines), data)


def cmd_regress(args: argparse.Namespace) -> CommandOutput:
    from ..regress.runner import run

    result = run(
        args.manifest,
        args.golden,
        update=args.update,
        report_dir=args.report,
        overwrite=args.overwrite,
        cache_dir=args.cache_dir,
        local_files_only=args.local_files_only,
        token=args.token,
        progress=False if args.quiet else None,
    )
    text = result.table() + (f"\nreport: {result.report}" if result.report else "")
    return CommandOutput(text, result.to_dict(), exit_code=0 if result.ok else EXIT_REGRESSION)


def cmd_export_onnx(args: argparse.Namespace) -> CommandOutput:
    from ..onnx.export import export_onnx

    voice = _load(args, strict=True)
    path = export_onnx(voice, args.output, opset=args.opset, noise=args.noise, overwrite=args.overwrite)
    text = f"wrote {path} (opset {args.opset}, noise {args.noise}); onnxruntime matches PyTorch at zero noise"
    data = {"output": str(path), "opset": args.opset, "noise": args.noise, "report": voice.report.to_dict()}
    return CommandOutput(text, data)


def cmd_demo(args: argparse.Namespace) -> CommandOutput:
    from .demo import RANDOM_WEIGHTS_NOTICE, run_demo

    result = run_demo(Path(args.workdir), seed=args.seed, quiet=args.quiet)
    paths = {"wav": result.wav, "png": result.png, "hub_cache": result.hub_cache, "snapshot": result.snapshot}
    lines = [
        textwrap.fill(RANDOM_WEIGHTS_NOTICE, width=TEXT_WIDTH),
        "",
        result.report.summary(),
        "",
        f"audio check: {result.check.summary()}",
        "",
        "wrote:",
        f"  {result.wav}  (text: {result.text!r}, seed {result.seed})",
        f"  {result.png}  (spectrogram)",
        f"  {result.hub_cache}  (local Hub cache holding {result.repo_id})",
    ]
    data = {
        "notice": RANDOM_WEIGHTS_NOTICE,
        "random_weights": True,
        "repo_id": result.repo_id,
        "text": result.text,
        "seed": result.seed,
        "paths": {name: str(p) for name, p in paths.items()},
        "report": result.report.to_dict(),
        "check": result.check.to_dict(),
    }
    return CommandOutput("\n".join(lines), data)


def cmd_formats(args: argparse.Namespace) -> CommandOutput:
    from ..mapping.registry import get_format, list_formats

    descriptions = {name: " ".join(get_format(name).description.split()) for name in list_formats()}
    width = max((len(name) for name in descriptions), default=0)
    text = "\n".join(f"{name:<{width}}  {description}" for name, description in descriptions.items())
    return CommandOutput(text, {"formats": descriptions})
