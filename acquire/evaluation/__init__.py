"""How faithfully the ECG was recovered: metrics, QRS detector, bxb scoring, simulate()."""
