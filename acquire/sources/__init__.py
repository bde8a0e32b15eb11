"""Where the ECG comes from: the recording type, PhysioNet catalog and fetch, ECGSYN, the configured-source loader."""
