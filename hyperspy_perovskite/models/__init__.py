"""Domain models of the suite (fit-derived methods live here)."""
