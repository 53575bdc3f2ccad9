"""The VITS architecture: hyperparameters, the reference generator, and hyperparameters read from tensor shapes."""
