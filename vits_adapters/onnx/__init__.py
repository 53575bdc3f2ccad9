"""ONNX export of a voice, its graph checks, and running an exported voice."""
