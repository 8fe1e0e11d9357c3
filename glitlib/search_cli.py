"""Search commands of the ``glit`` CLI (supernet, evolve, retrain, eval, search)."""
