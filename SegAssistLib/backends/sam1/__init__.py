"""SAM-1-family pretrained backends (LiteMedSAM, MobileSAM): shared session, weights, carrier-package import."""

from SegAssistLib.backends.sam1.weights import MODELS, weights_path

__all__ = ["MODELS", "weights_path"]
