"""Every setting of a run and its range: the recipes, the search config and how it resolves,
the paper's presets. Uses the model's spaces and costs (for the default MACs limit)."""
