"""Digital filter stages and the adaptive mains canceller."""
