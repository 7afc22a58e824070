"""SegAssist: AI-assisted segmentation of medical volumes, usable without Slicer.

Conventions shared by every module (see docs/ARCHITECTURE.md):

* voxel arrays are numpy arrays in (k, j, i) order, as ``slicer.util.arrayFromVolume`` returns;
* geometry is a 4x4 IJK->RAS matrix; files are LPS and converted only in :mod:`SegAssistLib.io`;
* planes are ``"axial"``, ``"coronal"``, ``"sagittal"``: the volume axes closest to S, A and R.
"""

from SegAssistLib.errors import SegAssistError

__version__ = "0.1.0"

__all__ = ["SegAssistError", "Volume", "__version__", "read_volume", "PlaneView"]


def __getattr__(name):
    # Lazy re-exports keep `import SegAssistLib` cheap (no SimpleITK import until needed).
    if name == "Volume":
        from SegAssistLib.core.volume import Volume

        return Volume
    if name == "read_volume":
        from SegAssistLib.io.volumes import read_volume

        return read_volume
    if name == "PlaneView":
        from SegAssistLib.core.planes import PlaneView

        return PlaneView
    raise AttributeError(name)
