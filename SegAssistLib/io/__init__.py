"""File input and output. LPS (files) <-> RAS (SegAssist) is converted here and nowhere else."""
