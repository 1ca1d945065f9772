"""Virtual-time simulator: many nodes of the real node core on one machine (design.md section 3)."""
