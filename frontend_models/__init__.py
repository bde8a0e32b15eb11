"""ecgfe amplifier models: behavioural instrumentation amplifier, datasheet presets, differential pair."""
