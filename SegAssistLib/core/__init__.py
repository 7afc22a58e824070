"""The domain model every other layer shares: volumes and their geometry, plane views, windowing, prompts
and the segmentation container. Nothing here knows about backends, files or Slicer."""
