"""`python -m p2pfed` runs the command-line interface."""

from p2pfed.cli.app import main

main()
