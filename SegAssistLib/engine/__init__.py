"""Orchestration over backends: keyframes in any plane, guarded propagation between them, fusion on the
region the keyframes span, per-slice confidence and a review queue."""

from SegAssistLib.engine.result import EngineResult, ReviewItem
from SegAssistLib.engine.segmentation_engine import Cancelled, Keyframe, SegmentationEngine

__all__ = ["Cancelled", "EngineResult", "Keyframe", "ReviewItem", "SegmentationEngine"]
