"""Where and how a run executes: device and precision, ranks, safe files, run folders, seeds,
progress, and the shipped results the book reads. Imports nothing else of glitlib (but its
errors)."""
