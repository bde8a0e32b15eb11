"""Virtual compliance bench: the standards' fixtures, tests, limits and report."""
