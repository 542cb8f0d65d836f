"""Scheduling crawls on one or several Scrapyd nodes (``rfi-schedule``)."""
