"""The ``clikd`` console script: the same collection as ``inv``, as its own program."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from invoke.config import Config
from invoke.program import Program

from tasks import __version__
from tasks.root import ns


class ClikdConfig(Config):
    # Invoke-level settings (run.echo and friends) come from clikd.yaml / CLIKD_RUN_ECHO etc.,
    # never from invoke.yaml: clikd is its own program.
    prefix = "clikd"


class ClikdProgram(Program):
    """Invoke's Program, where ``--config`` selects a clikd.toml and ``--version`` says more."""

    def update_config(self, merge: bool = True) -> None:
        # Invoke would load --config as its own YAML/JSON runtime file; for clikd it names the
        # clikd.toml to use, so hand it to the settings loader through CLIKD_CONFIG instead.
        chosen = self.args.config.value
        if chosen:
            os.environ["CLIKD_CONFIG"] = str(Path(chosen).expanduser().resolve())
            self.args.config.set_value(None, cast=False)
        super().update_config(merge=merge)

    def run(self, argv: list[str] | None = None, exit: bool = True) -> None:
        try:
            super().run(argv, exit)
        except SystemExit as done:
            # Invoke turns a Ctrl+C outside a task into exit 1; clikd's is 130 wherever it lands.
            if done.code == 1 and isinstance(done.__context__, KeyboardInterrupt):
                raise SystemExit(130) from None
            raise

    def print_version(self) -> None:
        from tasks.core.branch import detect
        from tasks.core.config.loader import find_config

        chosen = self.args.config.value
        if chosen:
            os.environ["CLIKD_CONFIG"] = chosen
        cwd = Path.cwd()
        config = find_config(cwd)
        branch = detect(cwd)
        print(f"clikd {__version__}")
        print(f"branch: {branch.name}" + (f" ({branch.note})" if branch.note else ""))
        print(f"config: {config if config else 'none found (built-in defaults)'}")


program = ClikdProgram(
    name="clikd",
    binary="clikd",
    binary_names=["clikd"],
    version=__version__,
    namespace=ns,
    config_class=ClikdConfig,
)


def main() -> None:
    try:
        program.run()
    except KeyboardInterrupt:
        # Ctrl+C outside a task (while loading or parsing) ends like Ctrl+C inside one.
        sys.stderr.write("\ninterrupted\n")
        raise SystemExit(130) from None
