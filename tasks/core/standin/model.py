"""env.standin's vocabulary: what it reports, its options, and the error it raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tasks.core.errors import ClikdError

DEFAULT_PREFIX = "clikd-standin"
MARKER = "# Written by clikd env.standin"
# The operations of the Clikd API the reference service fakes (tests/infra/refservice): a contract
# test of any other answers 404, which the spec does not document.
STANDIN_OPERATIONS = ("register", "login", "getCurrentUser", "getUser", "getFeed")


class StandinFailed(ClikdError):
    title = "stand-in build failed"


@dataclass
class StandinStep:
    name: str
    image: str
    action: str  # built | present
    seconds: float


@dataclass
class StandinResult:
    prefix: str
    config_layer: str
    images: dict[str, str]  # role -> tag
    steps: list[StandinStep] = field(default_factory=list)
    seconds: float = 0.0
    next_command: str = "inv env.start"


@dataclass(frozen=True)
class StandinOptions:
    prefix: str = DEFAULT_PREFIX
    cache: Path | None = None
    rebuild: bool = False
