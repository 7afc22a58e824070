"""Measuring results: Dice and Hausdorff (:mod:`.metrics`), simulated users (:mod:`.simulated_user`) and QC
pictures (:mod:`.qc`). Used by tests, benchmarks and the CLI's quality reports, never by the engine."""
