"""The Data Transfer API: wire models shared by the client and the worker, and the async client."""

import sys

# httpx's package imports its command-line tool when click, rich and pygments are installed
# (they are, for planner): a third of `import httpx` (tests/bench/README.md), never used here.
# None in sys.modules makes that import fail, which httpx expects (its `main` then only says
# what to install). Set here, the package of planner/api/client.py, before it imports httpx.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
