"""Benchmarks run by `medidash bench` (medidash/bench.py): one module per measured stage."""
