"""`python -m p2pfed` runs the command-line interface."""

from p2pfed.cli.app import main

if __name__ == "__main__":
    main()
