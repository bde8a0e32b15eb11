"""ecgfe acquisition pipeline: sources, body and electrodes, stages, ADC, digital filters, metrics."""

__version__ = "0.1.0"
