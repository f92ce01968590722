"""`python -m ventanilla` runs the same CLI as the `ventanilla` console script."""

from ventanilla.cli import main

raise SystemExit(main())
