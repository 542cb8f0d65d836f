"""``rfi-dataset``: merge, filter and convert crawl output; import and export archives."""
