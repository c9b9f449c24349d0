"""Deep Learning Notes build engine."""
