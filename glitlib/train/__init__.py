"""Training a network: the loop (AdamW, cosine schedule, exact resume), training over many
ranks, and one network trained, loaded and scored on its own."""
