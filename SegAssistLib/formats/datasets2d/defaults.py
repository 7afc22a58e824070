"""Default values the command line shows in ``--help``, kept free of numpy/scipy so that help stays fast."""

#: Minimum intersection over union for two regions on neighbouring slices to be one instance.
DEFAULT_MIN_IOU = 0.25
