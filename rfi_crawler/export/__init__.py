"""Run files: crash-safe JSON Lines output, their reader, and the run manifest."""
