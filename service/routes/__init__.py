"""HTTP routes: thin shells over the core."""
