"""Extraction, one module per page kind; each holds its own selectors."""
