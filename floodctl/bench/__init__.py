"""Benchmarks behind `floodctl bench …`: figures and ratios measured side by side in one run."""
