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
