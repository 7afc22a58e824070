"""2D datasets (:mod:`.datasets2d`: COCO, panoptic, semantic PNG, Label Studio) and label ontologies
(:mod:`.ontology`): the formats other annotation tools read and write."""
