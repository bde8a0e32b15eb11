"""The analog signal path: resampler, mains and body, electrodes and impedances, post stages, ADC."""
