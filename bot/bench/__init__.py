"""`afterhours bench ...`: benchmarks that print numbers (speed and quality targets are measured,
never asserted by timing tests)."""
