"""`python -m planner`: the same entry point as the `planner` console script."""

from planner.cli.main import main

raise SystemExit(main())
