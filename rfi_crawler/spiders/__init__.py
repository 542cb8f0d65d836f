"""Spiders of the rfi_crawler project."""
