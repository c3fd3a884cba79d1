"""Directory trees as data, below the plan, the runner and the worker: listing entries
(entry.py), include/exclude filters (filters.py), the copy policies (policies.py) and the
per-file decisions of a directory copy (decide.py). Pure functions, no I/O, no plan models:
the runner and the worker decide a tree copy with the same code."""
