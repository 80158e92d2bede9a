"""Benchmarks and their synthetic data (see bench_vault.py, datagen.py)."""
