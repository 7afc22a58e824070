"""Every exception SegAssist raises for a user, in one place: what went wrong, with which file, and what to do.

All derive from :class:`SegAssistError`, so a front end catches one class (the CLI prints it without a
traceback and exits with status 2; batch records it as the case's error; the Slicer panel shows it). Those
that replace a former ``ValueError`` also derive from ``ValueError``, so callers that caught it still do.
(A module may keep a private, underscore-named exception as an internal signal that never leaves it.)

==========================  ============================================================================
class                       raised when
==========================  ============================================================================
``VolumeReadError``         a volume file or DICOM folder cannot be read into a consistent volume
``GeometryError``           two pieces of data that must share a voxel grid (or a slice shape) do not
``PromptError``             a prompt is outside the volume, empty or otherwise unusable
``FormatError``             a file is malformed for the format it claims, or its name asks for no format
``BackendError``            a backend is missing, misconfigured (unknown model, option) or failed
``OptionError``             an option's value is not one the operation accepts (plane, window, method...)
``InterpolationError``      keyframe interpolation was asked for something it cannot do
``ManifestError``           a batch manifest is malformed (names the file, row and field)
``Cancelled``               the user cancelled a long operation; nothing was written
``SegmentError``            a segment is missing, duplicated or malformed, or cannot be stored as asked
``MissingFileError``        an input file the user named does not exist
``DependencyError``         an optional package the operation needs is not installed
``UnsafePathError``         an output would overwrite an input, or a name from a data file leaves its folder
``OutputNotWritableError``  an output file or folder cannot be written (read-only, parent is a file), checked first
``ServerError``             the SegAssist server refuses a request (``status``: the HTTP status it answers)
``SessionExpired``          a server session was idle too long and released (HTTP 410: re-upload, re-seed)
``WireError``               a server payload is not a valid array envelope
``RemoteError``             the client got a refusal from a SegAssist server (``status``, server's message)
==========================  ============================================================================
"""

from __future__ import annotations


class SegAssistError(Exception):
    """Base class of every error SegAssist reports to a user (the CLI prints it without a traceback)."""


class VolumeReadError(SegAssistError):
    """A volume file or DICOM folder could not be read into a consistent volume."""


class GeometryError(SegAssistError, ValueError):
    """Two pieces of data that must share a voxel grid (or a slice shape) do not."""


class PromptError(SegAssistError):
    """A prompt is outside the volume, empty or otherwise unusable."""


class FormatError(SegAssistError):
    """A file is malformed for the format it claims to be, or its name asks for no known format."""


class BackendError(SegAssistError):
    """A segmentation backend is missing, misconfigured or failed."""


class OptionError(SegAssistError, ValueError):
    """An option's value is not one the operation accepts: the message lists the valid ones."""


class InterpolationError(OptionError):
    """Keyframe interpolation was asked for something it cannot do (bad keyframes, plane, method, labels)."""


class ManifestError(SegAssistError):
    """A batch manifest is malformed: the message names the file, the row and the field to fix."""


class Cancelled(SegAssistError):
    """The user cancelled a propagation; nothing was written."""


class SegmentError(SegAssistError):
    """A segment is missing, duplicated, malformed (id, colour, attribute), or cannot be stored as asked
    (an empty segmentation, overlaps in a labelmap)."""


class MissingFileError(SegAssistError, FileNotFoundError):
    """An input file the user named does not exist."""


class DependencyError(SegAssistError, ImportError):
    """An optional package an operation needs is not installed: the message says what to pip install."""


class UnsafePathError(SegAssistError):
    """A path would overwrite an input, or leave the folder it must stay in."""


class OutputNotWritableError(SegAssistError):
    """An output file or folder cannot be written where the user asked."""


def import_optional(module: str, extra: str, purpose: str):
    """Import ``module`` or raise :class:`DependencyError` naming the pip extra that provides it.

    ``purpose`` says what needed it ("Reading Label Studio XML", "DICOM SEG"), so the user learns what to
    install and why: ``pip install 'segassist[formats]'``. Returns the imported module.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or module
        raise DependencyError(
            f"{purpose} needs the package {missing!r}, which is not installed. "
            f"Install the extra: pip install 'segassist[{extra}]' (or pip install -e '.[{extra}]' in a checkout)."
        ) from None


class ServerError(SegAssistError):
    """A request the SegAssist server refuses; ``status`` is the HTTP status it answers with (4xx)."""

    status = 400

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status


class SessionExpired(ServerError):
    """A server session idle longer than its lease was released: create a new one, upload, re-seed."""

    status = 410


class WireError(FormatError, ValueError):
    """A server payload is not a valid array envelope; the message says what is wrong."""


class RemoteError(SegAssistError):
    """A SegAssist server refused a client's request; ``status`` is its HTTP status."""

    def __init__(self, status: int, message: str):
        super().__init__(f"SegAssist server: {message} (HTTP {status})")
        self.status = status
