"""Glue between SegAssistLib and 3D Slicer's MRML scene. Importable only where ``slicer`` (Slicer's Python,
or slicer-core) is. Inside this package ``import slicer`` still means Slicer's own module."""
