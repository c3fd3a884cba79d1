"""`python -m planner`: the same entry point as the `planner` console script."""

from planner.cli.prestart import main

raise SystemExit(main())
