"""Where a checkpoint comes from: the Hugging Face Hub, local Hub caches, and resolving a source to files."""
