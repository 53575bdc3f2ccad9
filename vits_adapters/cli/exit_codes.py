"""Exit codes of the ``vits-adapters`` command: which exception class maps to which code, and their help text."""

from __future__ import annotations

from ..errors import (
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
EPILOG = """\
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



def exit_code_for(error: BaseException) -> int:
    """The documented exit code of an exception raised while running a command (1 when unlisted)."""
    for classes, code in EXIT_CODES:
        if isinstance(error, classes):
            return code
    return 1
