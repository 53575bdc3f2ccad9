"""The reference VITS generator and its building blocks."""
