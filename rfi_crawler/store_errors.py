"""What a state backend raises when it cannot be used mid-run."""

from __future__ import annotations

import sqlite3

from rfi_crawler.state import StateStoreError

# The SQLite driver's own errors (a corrupt page: "database disk image is malformed") are
# not all wrapped by the store; a backend's other failures arrive as StateStoreError.
STORE_ERRORS = (StateStoreError, sqlite3.Error)
STATE_ERROR = "state_error"  # the finish reason of a run stopped by its store
