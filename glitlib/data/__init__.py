"""The images: the batch-source interface and three splits, small datasets in memory,
ImageNet streamed from disk (and its stand-in), and the loader that picks a run's data."""
