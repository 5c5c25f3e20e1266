"""The null QDriver: a device that does nothing, instantly. For kernel tests and benchmarks."""
