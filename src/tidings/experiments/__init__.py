"""Experiments: sticky arm assignment and honest statistics (pure)."""
