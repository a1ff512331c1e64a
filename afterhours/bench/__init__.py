"""`afterhours bench ...`: benchmarks that print numbers.

Speed and quality targets are measured here, never asserted by timing tests.
"""
