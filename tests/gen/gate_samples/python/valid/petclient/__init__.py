"""A hand-written stand-in for a generated Python client."""

from .models import Pet

__all__ = ["Pet"]
