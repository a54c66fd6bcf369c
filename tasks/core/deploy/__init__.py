"""Kubernetes deploys: manifests, checks, apply, rollout waits, blue/green, history, lock."""
