"""The ``vits-adapters`` command line: inspect, convert, synth, regress, demo and formats, with typed exit codes.

The exit codes are in ``_EPILOG`` (printed by ``--help``) and ``EXIT_CODES``.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import textwrap
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NoReturn

from .errors import (
    CheckpointNotFoundError,
    CheckpointReadError,
    ConfigMismatchError,
    FormatDetectionError,
    InvalidInputError,
    KeyMappingError,
    SilentOutputError,
    SpecError,
    StateDictMismatchError,
    UnknownNameError,
    VitsAdapterError,
)
from .export import FORMAT_ALIASES, LAYOUTS, default_weight_norm
from .model.hparams import VitsHParams
from .voice import Voice
from .weight_norm import group_weight_keys

EXIT_CODES: tuple[tuple[tuple[type[BaseException], ...], int], ...] = (
    ((SpecError, UnknownNameError), 3),
    ((CheckpointNotFoundError, CheckpointReadError), 4),
    ((FormatDetectionError, KeyMappingError, StateDictMismatchError, ConfigMismatchError), 5),
    ((SilentOutputError,), 6),
    ((InvalidInputError,), 7),
    ((VitsAdapterError, OSError), 1),
)
EXIT_USAGE = 2
EXIT_REGRESSION = 8
EXIT_INTERRUPTED = 130
_TEXT_WIDTH = 100
_EPILOG = """\
exit codes:
  0  success
  1  any other vits-adapters error, a file-system error (e.g. an output that exists without --overwrite),
     or an unexpected internal error (rerun with --debug for the traceback)
  2  usage error (bad or missing arguments)
  3  SpecError, UnknownNameError (bad config or spec, unknown format name)
  4  CheckpointNotFoundError, CheckpointReadError (missing, not cached, corrupt or unsafe checkpoint)
  5  FormatDetectionError, KeyMappingError, StateDictMismatchError, ConfigMismatchError
  6  SilentOutputError (synthesized audio is silent, too short or not finite)
  7  InvalidInputError (empty or unknown text, token or speaker id out of range)
  8  regress: a case drifted beyond its tolerances, has no golden, or could not be synthesized"""


class _UsageError(Exception):
    """An argparse error, raised instead of exiting so ``main`` can answer in JSON."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(self, message)


@dataclass(frozen=True)
class _Output:
    """What a command prints: ``text`` for people, ``data`` for ``--json``."""

    text: str
    data: dict[str, Any]
    exit_code: int = 0


def exit_code_for(error: BaseException) -> int:
    """The documented exit code of an exception raised while running a command (1 when unlisted)."""
    for classes, code in EXIT_CODES:
        if isinstance(error, classes):
            return code
    return 1


# --- commands ---------------------------------------------------------------------------------------------------


def _load(
    args: argparse.Namespace, *, strict: bool, weight_norm: str = "fold", source: str | None = None, dtype: str = "fp32"
) -> Voice:
    from .pretrained import from_pretrained

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


def _cmd_inspect(args: argparse.Namespace) -> _Output:
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
    return _Output("\n".join(lines), data)


def _cmd_convert(args: argparse.Namespace) -> _Output:
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
    return _Output(text, data)


def _convert_batch(args: argparse.Namespace) -> _Output:
    from .batch_convert import convert_many, expand_sources, plan_outputs

    plan = plan_outputs(expand_sources(args.source) if args.batch else list(args.source), args.out_dir)
    items = convert_many(plan, lambda src, out: _convert_one(args, src, out)[2], progress=False if args.quiet else None)
    failed = [item for item in items if item.error is not None]
    lines = [f"converted {len(items) - len(failed)} of {len(items)} checkpoint(s) to {args.to}:"]
    for item in items:
        outcome = f"FAILED: {type(item.error).__name__}: {item.error}" if item.error else f"-> {item.out_dir}"
        lines.append(f"  {item.source} {outcome}")
    data = {"to": args.to, "items": [item.to_dict() for item in items], "failed": [item.source for item in failed]}
    return _Output("\n".join(lines), data, exit_code=exit_code_for(failed[0].error) if failed else 0)


def _convert_one(args: argparse.Namespace, source: str, out_dir: Path) -> tuple[Voice, str, list[Path]]:
    voice = _load(args, strict=True, source=source)
    weight_norm = args.weight_norm or default_weight_norm(voice, args.to)
    written = voice.save_pretrained(out_dir, format=args.to, weight_norm=weight_norm, overwrite=args.overwrite)
    return voice, weight_norm, written


def _token_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 1,2,3, got {text!r}") from None


def _cmd_synth(args: argparse.Namespace) -> _Output:
    from .audio import check_audio

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
    return _Output("\n".join(lines), data)


def _cmd_regress(args: argparse.Namespace) -> _Output:
    from .regress import run

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
    return _Output(text, result.to_dict(), exit_code=0 if result.ok else EXIT_REGRESSION)


def _cmd_export_onnx(args: argparse.Namespace) -> _Output:
    from .onnx_export import export_onnx

    voice = _load(args, strict=True)
    path = export_onnx(voice, args.output, opset=args.opset, noise=args.noise, overwrite=args.overwrite)
    text = f"wrote {path} (opset {args.opset}, noise {args.noise}); onnxruntime matches PyTorch at zero noise"
    data = {"output": str(path), "opset": args.opset, "noise": args.noise, "report": voice.report.to_dict()}
    return _Output(text, data)


def _cmd_demo(args: argparse.Namespace) -> _Output:
    from .demo import RANDOM_WEIGHTS_NOTICE, run_demo

    result = run_demo(Path(args.workdir), seed=args.seed, quiet=args.quiet)
    paths = {"wav": result.wav, "png": result.png, "hub_cache": result.hub_cache, "snapshot": result.snapshot}
    lines = [
        textwrap.fill(RANDOM_WEIGHTS_NOTICE, width=_TEXT_WIDTH),
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
    return _Output("\n".join(lines), data)


def _cmd_formats(args: argparse.Namespace) -> _Output:
    from .registry import get_format, list_formats

    descriptions = {name: " ".join(get_format(name).description.split()) for name in list_formats()}
    width = max((len(name) for name in descriptions), default=0)
    text = "\n".join(f"{name:<{width}}  {description}" for name, description in descriptions.items())
    return _Output(text, {"formats": descriptions})


# --- parser -----------------------------------------------------------------------------------------------------


def _add_global_flags(parser: argparse.ArgumentParser, *, top_level: bool) -> None:
    # Sub-commands repeat the flags with SUPPRESS defaults so they work after the command without resetting them.
    default: Any = False if top_level else argparse.SUPPRESS
    parser.add_argument("--json", action="store_true", default=default, help="machine-readable JSON on stdout")
    parser.add_argument("--debug", action="store_true", default=default, help="show tracebacks and debug logs")
    parser.add_argument("--quiet", action="store_true", default=default, help="print nothing on success")


def _add_load_flags(parser: argparse.ArgumentParser, *, runtime: bool, many: bool = False) -> None:
    if many:
        parser.add_argument("source", metavar="SRC", nargs="+", help="one or more repo ids, folders or files")
    else:
        parser.add_argument("source", metavar="SRC", help="Hub repo id (org/name), local folder or checkpoint file")
    parser.add_argument("--format", default="auto", help="source format name (see `formats`); default: detect")
    parser.add_argument("--config", help="the checkpoint's config.json when it is not beside the weights")
    parser.add_argument("--trust-pickle", action="store_true", help="allow harmless pickle types in .pth files")
    hub = parser.add_argument_group("Hugging Face Hub")
    hub.add_argument("--revision", help="branch, tag or commit hash (default: main)")
    hub.add_argument("--cache-dir", help="Hub cache folder (default: huggingface_hub's)")
    hub.add_argument("--local-files-only", action="store_true", help="use the cache only, never the network")
    hub.add_argument("--token", help="Hub access token (default: HF_TOKEN or the saved login); never printed")
    hub.add_argument("--force-download", action="store_true", help="download again even when cached")
    if runtime:
        parser.add_argument(
            "--weight-norm-mode", choices=("fold", "keep"), default="fold", help="build with plain or parametrized WN"
        )
        parser.add_argument(
            "--no-strict", action="store_true", help="load what fits and report the gaps (default: refuse any gap)"
        )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``vits-adapters`` command."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="vits-adapters",
        description="Load VITS-family checkpoints of any supported layout, check every weight arrived, synthesize.",
        epilog=_EPILOG,
        formatter_class=formatter,
    )
    _add_global_flags(parser, top_level=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str, handler: Callable[[argparse.Namespace], _Output]) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, help=help_text, description=help_text, epilog=_EPILOG, formatter_class=formatter
        )
        _add_global_flags(sub, top_level=False)
        sub.set_defaults(handler=handler)
        return sub

    inspect = command(
        "inspect", "show a checkpoint's format, components, weight norm and hyperparameters", _cmd_inspect
    )
    _add_load_flags(inspect, runtime=True)

    convert = command(
        "convert", "load a checkpoint strictly and save it as vits-adapters or vits-original", _cmd_convert
    )
    _add_load_flags(convert, runtime=False, many=True)
    convert.add_argument("out_dir", metavar="OUT_DIR", help="output folder (several SRC: one subfolder per SRC)")
    convert.add_argument(
        "--batch", action="store_true", help="a folder SRC holds many checkpoints: convert each to OUT_DIR/<name>"
    )
    convert.add_argument("--to", choices=(*LAYOUTS, *FORMAT_ALIASES), default="vits-adapters", help="output format")
    convert.add_argument(
        "--weight-norm",
        choices=("plain", "legacy", "parametrized"),
        help="weight-norm form of the written layers (default: plain for vits-adapters, legacy for vits-original)",
    )
    convert.add_argument("--overwrite", action="store_true", help="replace existing output files")

    synth = command("synth", "synthesize text or token ids to a WAV file", _cmd_synth)
    _add_load_flags(synth, runtime=True)
    given = synth.add_mutually_exclusive_group(required=True)
    given.add_argument("--text", help="text, through the checkpoint's cleaners and symbol table")
    given.add_argument("--tokens", type=_token_list, help="token ids fed as given, e.g. 1,2,3")
    synth.add_argument("-o", "--output", required=True, metavar="OUT.wav", help="WAV file to write")
    synth.add_argument("--speaker", type=int, help="speaker id of a multi-speaker model")
    synth.add_argument("--seed", type=int, help="seed of the synthesis noise (default: random)")
    synth.add_argument("--noise-scale", type=float, help="prior noise scale (default: the voice's, else 0.667)")
    synth.add_argument("--noise-scale-w", type=float, help="duration noise scale (default: the voice's, else 0.8)")
    synth.add_argument("--length-scale", type=float, help="> 1 speaks slower (default: the voice's, else 1.0)")
    synth.add_argument("--no-check", action="store_true", help="write the audio even if it is silent or not finite")
    synth.add_argument(
        "--dtype", choices=("fp32", "bf16"), default="fp32", help="decoder precision (bf16: faster on CPUs with bf16)"
    )
    synth.add_argument("--overwrite", action="store_true", help="replace an existing output file")

    regress = command("regress", "re-synthesize a manifest's cases and compare them with golden WAVs", _cmd_regress)
    regress.add_argument("manifest", metavar="MANIFEST.yaml", help="the cases (see README: regression audio)")
    regress.add_argument("--golden", required=True, metavar="DIR", help="folder of golden WAVs and JSON sidecars")
    regress.add_argument("--update", action="store_true", help="write the goldens instead of comparing")
    regress.add_argument("--report", metavar="DIR", help="also write an HTML report with plots and audio players")
    regress.add_argument("--overwrite", action="store_true", help="replace a report already in the --report folder")
    regress_hub = regress.add_argument_group("Hugging Face Hub (for repo-id sources)")
    regress_hub.add_argument("--cache-dir", help="Hub cache folder (default: huggingface_hub's)")
    regress_hub.add_argument("--local-files-only", action="store_true", help="use the cache only, never the network")
    regress_hub.add_argument("--token", help="Hub access token (default: HF_TOKEN or the saved login); never printed")

    export_onnx = command("export-onnx", "export a voice's text-to-speech path to ONNX (needs [onnx])", _cmd_export_onnx)
    _add_load_flags(export_onnx, runtime=False)
    export_onnx.add_argument("output", metavar="OUT.onnx", help="ONNX file to write")
    export_onnx.add_argument("--opset", type=int, default=17, help="ONNX opset, 16 or later (default 17)")
    export_onnx.add_argument(
        "--noise", choices=("graph", "inputs"), default="graph", help="draw noise in the model or take it as inputs"
    )
    export_onnx.add_argument("--overwrite", action="store_true", help="replace an existing output file")

    demo = command("demo", "offline end-to-end run on a random-weight voice (the audio is noise)", _cmd_demo)
    demo.add_argument("--workdir", default="vits-adapters-demo", help="output folder (default ./vits-adapters-demo)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the weights and the noise (default 0)")

    command("formats", "list the known checkpoint formats", _cmd_formats)
    return parser


# --- running ----------------------------------------------------------------------------------------------------


def _mask(text: str, secret: object) -> str:
    return text.replace(secret, "***") if isinstance(secret, str) and secret else text


def _print_json(data: dict[str, Any]) -> None:
    print(json.dumps(data, indent=2, default=str))


def _report_error(error: BaseException, code: int, *, as_json: bool, debug: bool, secret: object) -> None:
    message = _mask(str(error), secret).strip() or type(error).__name__
    if debug:
        print(_mask("".join(traceback.format_exception(error)), secret), file=sys.stderr, end="")
    first, *rest = message.splitlines()
    print(f"error: {first}", file=sys.stderr)
    for line in rest:
        print(f"  {line}", file=sys.stderr)
    if as_json:
        _print_json({"error": {"type": type(error).__name__, "message": message, "exit_code": code}})


def _attach_log_handler(debug: bool, quiet: bool) -> tuple[logging.Logger, logging.Handler, int]:
    package_logger = logging.getLogger("vits_adapters")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    previous = package_logger.level
    package_logger.setLevel(logging.DEBUG if debug else logging.ERROR if quiet else logging.WARNING)
    package_logger.addHandler(handler)
    return package_logger, handler, previous


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
    except _UsageError as err:
        if "--json" in arguments:
            _print_json({"error": {"type": "UsageError", "message": str(err), "exit_code": EXIT_USAGE}})
        err.parser.print_usage(sys.stderr)
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else 0

    from .hub import download_progress_bars

    package_logger, handler, previous_level = _attach_log_handler(args.debug, args.quiet)
    try:
        with download_progress_bars(show=not args.quiet and sys.stderr.isatty()):
            output = args.handler(args)
    except (VitsAdapterError, OSError) as err:
        code = exit_code_for(err)
        _report_error(err, code, as_json=args.json, debug=args.debug, secret=getattr(args, "token", None))
        return code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # a bug rather than bad input: still one error line and valid JSON
        unexpected = RuntimeError(
            f"unexpected {type(err).__name__}: {err} (a bug in vits-adapters; rerun with --debug for the traceback)"
        )
        unexpected.__cause__ = err  # --debug prints the original traceback
        _report_error(unexpected, 1, as_json=args.json, debug=args.debug, secret=getattr(args, "token", None))
        return 1
    finally:
        package_logger.removeHandler(handler)
        package_logger.setLevel(previous_level)
    if args.json:
        _print_json({"command": args.command, **output.data})
    elif not args.quiet or output.exit_code:
        print(output.text)
    return output.exit_code
