"""Shared test code: builders, clients and assertions used by more than one test module.

Test modules import from here, never from one another (a `test_*.py` module holds tests only);
pytest fixtures live in the `conftest.py` files and build on these helpers."""
