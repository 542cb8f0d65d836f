"""scrapyd-deploy builds eggs with ``setup.py bdist_egg``; the metadata (the ``scrapy``
settings entry point, the packaged schema, no tests) lives in pyproject.toml."""

from setuptools import setup

setup()
