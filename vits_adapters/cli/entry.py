"""The ``vits-adapters`` command line: inspect, convert, synth, regress, demo and formats, with typed exit codes.

Parsing and running live here; the subcommands are in ``cli_commands`` and the exit codes in ``cli_exit_codes``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from .commands import (
    CommandOutput,
    cmd_convert,
    cmd_demo,
    cmd_export_onnx,
    cmd_formats,
    cmd_inspect,
    cmd_regress,
    cmd_synth,
)
from .exit_codes import EPILOG, EXIT_CODES, EXIT_INTERRUPTED, EXIT_REGRESSION, EXIT_USAGE, exit_code_for
from ..errors import VitsAdapterError
from ..formats.writer import FORMAT_ALIASES, LAYOUTS

__all__ = ["EXIT_CODES", "EXIT_INTERRUPTED", "EXIT_REGRESSION", "EXIT_USAGE", "build_parser", "exit_code_for", "main"]


class _UsageError(Exception):
    """An argparse error, raised instead of exiting so ``main`` can answer in JSON."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(self, message)


def _token_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 1,2,3, got {text!r}") from None



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
        epilog=EPILOG,
        formatter_class=formatter,
    )
    _add_global_flags(parser, top_level=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str, handler: Callable[[argparse.Namespace], CommandOutput]) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, help=help_text, description=help_text, epilog=EPILOG, formatter_class=formatter
        )
        _add_global_flags(sub, top_level=False)
        sub.set_defaults(handler=handler)
        return sub

    inspect = command(
        "inspect", "show a checkpoint's format, components, weight norm and hyperparameters", cmd_inspect
    )
    _add_load_flags(inspect, runtime=True)

    convert = command(
        "convert", "load a checkpoint strictly and save it as vits-adapters or vits-original", cmd_convert
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

    synth = command("synth", "synthesize text or token ids to a WAV file", cmd_synth)
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

    regress = command("regress", "re-synthesize a manifest's cases and compare them with golden WAVs", cmd_regress)
    regress.add_argument("manifest", metavar="MANIFEST.yaml", help="the cases (see README: regression audio)")
    regress.add_argument("--golden", required=True, metavar="DIR", help="folder of golden WAVs and JSON sidecars")
    regress.add_argument("--update", action="store_true", help="write the goldens instead of comparing")
    regress.add_argument("--report", metavar="DIR", help="also write an HTML report with plots and audio players")
    regress.add_argument("--overwrite", action="store_true", help="replace a report already in the --report folder")
    regress_hub = regress.add_argument_group("Hugging Face Hub (for repo-id sources)")
    regress_hub.add_argument("--cache-dir", help="Hub cache folder (default: huggingface_hub's)")
    regress_hub.add_argument("--local-files-only", action="store_true", help="use the cache only, never the network")
    regress_hub.add_argument("--token", help="Hub access token (default: HF_TOKEN or the saved login); never printed")

    export_onnx = command("export-onnx", "export a voice's text-to-speech path to ONNX (needs [onnx])", cmd_export_onnx)
    _add_load_flags(export_onnx, runtime=False)
    export_onnx.add_argument("output", metavar="OUT.onnx", help="ONNX file to write")
    export_onnx.add_argument("--opset", type=int, default=17, help="ONNX opset, 16 or later (default 17)")
    export_onnx.add_argument(
        "--noise", choices=("graph", "inputs"), default="graph", help="draw noise in the model or take it as inputs"
    )
    export_onnx.add_argument("--overwrite", action="store_true", help="replace an existing output file")

    demo = command("demo", "offline end-to-end run on a random-weight voice (the audio is noise)", cmd_demo)
    demo.add_argument("--workdir", default="vits-adapters-demo", help="output folder (default ./vits-adapters-demo)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the weights and the noise (default 0)")

    command("formats", "list the known checkpoint formats", cmd_formats)
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

    from ..hub.fetch import download_progress_bars

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
