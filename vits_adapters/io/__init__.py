"""Reading checkpoints safely (sniffing, weights-only pickles, mapped safetensors) and writing files atomically."""
