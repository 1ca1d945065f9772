"""The node: sans-I/O protocol core (core.py), async driver (driver.py), process runner (runner.py)."""
