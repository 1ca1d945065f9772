"""The `p2pfed` command line: one module per command, assembled in app.py."""
