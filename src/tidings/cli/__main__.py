"""`python -m tidings.cli` runs the same command line as `tidings`."""

from tidings.cli import main

main()
