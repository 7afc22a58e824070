"""Exceptions whose messages are written for the user: what went wrong, with which file, and what to do."""


class SegAssistError(Exception):
    """Base class of every error SegAssist reports to a user (the CLI prints it without a traceback)."""


class VolumeReadError(SegAssistError):
    """A volume file or DICOM folder could not be read into a consistent volume."""


class GeometryError(SegAssistError):
    """Two pieces of data that must share a voxel grid do not."""


class PromptError(SegAssistError):
    """A prompt is outside the volume, empty or otherwise unusable."""


class FormatError(SegAssistError):
    """A file is malformed for the format it claims to be."""


class BackendError(SegAssistError):
    """A segmentation backend is missing, misconfigured or failed."""


class MissingDependencyError(SegAssistError):
    """An optional package that a feature needs is not installed; the message names the extra to install."""


def import_optional(module: str, extra: str, purpose: str):
    """Import ``module`` or raise :class:`MissingDependencyError` naming the pip extra that provides it.

    ``purpose`` says what needed it ("Label Studio XML", "DICOM SEG"), so the user learns what to install and
    why: ``pip install 'segassist[formats]'``. Returns the imported module.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or module
        raise MissingDependencyError(
            f"{purpose} needs the package {missing!r}, which is not installed. "
            f"Install the extra: pip install 'segassist[{extra}]' (or pip install -e '.[{extra}]' in a checkout)."
        ) from None
