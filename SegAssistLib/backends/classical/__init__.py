"""The weight-free classical backend: prompts -> seeds on a region of interest (:mod:`.seeds`) -> a seeded
method (:mod:`.methods`) -> prompted components (:mod:`.backend`)."""

from SegAssistLib.backends.classical.backend import ClassicalBackend, ClassicalSession

__all__ = ["ClassicalBackend", "ClassicalSession"]
