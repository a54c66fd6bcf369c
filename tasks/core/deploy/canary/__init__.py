"""Canary analysis: PromQL checks per deploy step against a Prometheus (the shift itself comes later)."""
