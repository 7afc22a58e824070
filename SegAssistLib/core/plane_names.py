"""The plane names, without numpy/scipy, so that the command line's ``--help`` can list them quickly."""

#: The three planes: the volume axes closest to S (axial), A (coronal) and R (sagittal).
PLANES = ("axial", "coronal", "sagittal")
