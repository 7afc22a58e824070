"""Orchestration over backends: keyframes in any plane, propagation between them, fusion and confidence."""

from SegAssistLib.engine.segmentation_engine import Cancelled, EngineResult, Keyframe, SegmentationEngine

__all__ = ["Cancelled", "EngineResult", "Keyframe", "SegmentationEngine"]
