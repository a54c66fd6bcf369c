"""Benchmarks: each module measures one goal and records it in BENCHMARKS.md."""
