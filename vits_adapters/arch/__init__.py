"""Architectures: a family's hyperparameters, generator and shape inference, composed from components."""
