"""Where and how a run executes: device and precision, ranks, safe files, run folders, seeds,
progress. Imports nothing else of glitlib (but its errors)."""
