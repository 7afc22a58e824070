"""2D datasets: images (PNG/JPEG/TIFF/DICOM), semantic index PNGs, COCO instances, COCO panoptic and
Cityscapes instanceIds, Label Studio brush tasks, and volume <-> 2D slices.

Every format reads into and writes from :class:`~SegAssistLib.formats.datasets2d.model.Dataset2D` (an ontology and
images with regions); :mod:`.volume_slices` links that to :class:`~SegAssistLib.core.volume.Volume` and
:class:`~SegAssistLib.core.segmentation.Segmentation`.
"""

__all__ = ["Dataset2D", "Region2D", "Sample2D", "dataset_from_instance_labels"]


def __getattr__(name: str):
    # Loaded on first use (numpy), so `segassist --help` stays fast.
    if name in __all__:
        from SegAssistLib.formats.datasets2d import model

        return getattr(model, name)
    raise AttributeError(name)
