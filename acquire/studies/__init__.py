"""Studies over many runs: parameter sweeps, Monte Carlo, compliance bench."""
