"""Running real federations: the local multi-process launcher."""
