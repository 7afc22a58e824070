"""JSON files in and out: one place that turns unreadable or malformed JSON into a FormatError naming
the file, and writes JSON atomically."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Iterator

from SegAssistLib.errors import FormatError
from SegAssistLib.io.atomic import atomic_output


def read_json(path: str | os.PathLike, what: str = "JSON") -> Any:
    """Parsed content of a JSON file; a missing, unreadable or malformed file raises FormatError saying
    ``"<path>: not valid <what> (...)"`` or ``"<path>: cannot read (...)"``."""
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FormatError(f"{p}: no such file.") from None
    except OSError as exc:
        raise FormatError(f"{p}: cannot read ({exc.strerror}).") from None
    except UnicodeDecodeError as exc:
        raise FormatError(f"{p}: not valid {what} (not UTF-8 text: {exc.reason}).") from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"{p}: not valid {what} ({exc.msg} at line {exc.lineno}).") from None
    except RecursionError:
        raise FormatError(f"{p}: not valid {what} (nested too deeply to be a real file).") from None


@contextlib.contextmanager
def malformed(where: str, what: str) -> Iterator[None]:
    """Turn the errors a reader meets on JSON of the wrong shape (a string where an object belongs, a
    missing key, ...) into a :class:`FormatError` naming the file, instead of a traceback."""
    try:
        yield
    except FormatError:
        raise
    except KeyError as exc:
        raise FormatError(f"{where}: not a valid {what}: the field {exc} is missing.") from None
    except (TypeError, AttributeError, IndexError, ValueError, RecursionError, OverflowError) as exc:
        raise FormatError(f"{where}: not a valid {what}: a field has the wrong type or value ({exc}).") from None


def write_json(path: str | os.PathLike, doc: Any, indent: int | None = 2) -> Path:
    """Write ``doc`` as UTF-8 JSON, atomically (``indent=None``: compact, for large datasets)."""
    p = Path(path)
    with atomic_output(p) as tmp:
        tmp.write_text(json.dumps(doc, indent=indent), encoding="utf-8")
    return p
