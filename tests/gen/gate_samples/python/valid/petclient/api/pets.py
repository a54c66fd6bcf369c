from __future__ import annotations

import json
import urllib.request

from petclient.models import Pet


def list_pets(base_url: str) -> list[Pet]:
    with urllib.request.urlopen(f"{base_url}/pets") as response:  # noqa: S310
        return [Pet(**item) for item in json.load(response)]
