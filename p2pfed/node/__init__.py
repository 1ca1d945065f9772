"""One node's runtime: its lifecycle (boot from state, checkpoint, leave, return), async driver, process runner, state on disk, metrics log."""
