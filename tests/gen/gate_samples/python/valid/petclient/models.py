from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Pet:
    id: int
    name: str
    tag: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "tag": self.tag}
