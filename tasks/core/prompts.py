"""Confirmations: asked in a terminal, demanded as a flag without one.

Questionary is imported only when a question is really asked, so listing tasks stays fast.
"""

from __future__ import annotations

import os
import sys

from tasks.core.errors import ConfirmationRequired, Declined, Interrupted


def interactive() -> bool:
    """True when a person can answer: stdin and stdout are terminals and CI is not set."""
    if os.environ.get("CLIKD_NO_PROMPT"):
        return False
    return sys.stdin.isatty() and sys.stdout.isatty()


def confirm(question: str, *, assume_yes: bool, flag: str = "--yes", default: bool = False) -> None:
    """Go on only with consent: ``assume_yes``, or a 'yes' typed in a terminal."""
    if assume_yes:
        return
    if not interactive():
        raise ConfirmationRequired(
            f"{question} needs a confirmation, and there is no terminal to ask in.",
            hint=f"pass {flag} to confirm from a script",
        )
    import questionary

    answer = questionary.confirm(question, default=default).ask()
    if answer is None:
        raise Interrupted("cancelled at the prompt")
    if not answer:
        raise Declined("nothing was changed", hint=f"run again and answer yes, or pass {flag}")


def type_to_confirm(question: str, expected: str, *, given: str | None, flag: str) -> None:
    """Ask the person to type ``expected`` (an environment name) before something irreversible."""
    if given is not None:
        if given != expected:
            raise Declined(
                f"the confirmation {given!r} does not match {expected!r}",
                hint=f"pass {flag}={expected}",
            )
        return
    if not interactive():
        raise ConfirmationRequired(
            f"{question} needs the name {expected!r} typed, and there is no terminal to ask in.",
            hint=f"pass {flag}={expected} together with --yes",
        )
    import questionary

    typed = questionary.text(f"{question} Type {expected!r} to confirm:").ask()
    if typed is None:
        raise Interrupted("cancelled at the prompt")
    if typed.strip() != expected:
        raise Declined(f"{typed!r} is not {expected!r}; nothing was changed")


def select(question: str, choices: list[str], *, default: str | None = None) -> str:
    """Let the person pick one of ``choices`` (only called in a terminal)."""
    import questionary

    picked = questionary.select(question, choices=choices, default=default).ask()
    if picked is None:
        raise Interrupted("cancelled at the prompt")
    return str(picked)
