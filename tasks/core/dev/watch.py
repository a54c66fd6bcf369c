"""Watch a service's source with watchfiles, keeping heavy folders out of inotify.

watchfiles (like every inotify library) registers a watch for every folder below a recursive root,
ignored or not, and cannot prune a subtree. So the roots are split here: a folder with no heavy
folder (target/, node_modules/, .next/, _build/, deps/, .git/) below it is watched recursively; a
folder that has one is watched on its own (new files in it are seen), and its other children are
split the same way.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tasks.core.dev.rules import HEAVY
from tasks.core.errors import ClikdError

PRUNED = (*HEAVY, ".git")
STEP_MS = 50  # quiet time that ends a batch
DEBOUNCE_MS = 1600  # longest a batch is held while changes keep coming
POLL_MS = 300


class WatchLimit(ClikdError):
    title = "file watch limit reached"


@dataclass
class Roots:
    """What to watch: recursive roots, single folders (non-recursive) and single files."""

    recursive: list[Path] = field(default_factory=list)
    flat: list[Path] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def split_roots(source: Path, watch: list[str]) -> Roots:
    roots = Roots()
    for entry in watch:
        path = (source / entry).resolve()
        if path.is_file():
            roots.files.append(path)
        elif path.is_dir():
            _split(path, roots)
    return roots


def _has_heavy(folder: Path) -> bool:
    return any(any(name in PRUNED for name in dirnames) for _dirpath, dirnames, _files in os.walk(folder))


def _split(folder: Path, roots: Roots) -> None:
    if not _has_heavy(folder):
        roots.recursive.append(folder)
        return
    roots.flat.append(folder)
    for child in sorted(folder.iterdir()):
        if child.is_dir() and not child.is_symlink() and child.name not in PRUNED:
            _split(child, roots)


def walk_files(source: Path, watch: list[str]) -> list[str]:
    """Every file below the watch roots, relative to ``source``, heavy folders left out."""
    found: list[str] = []
    for entry in watch:
        path = (source / entry).resolve()
        if path.is_file():
            found.append(path.relative_to(source).as_posix())
            continue
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = [d for d in dirnames if d not in PRUNED]
            base = Path(dirpath)
            found.extend((base / f).relative_to(source).as_posix() for f in filenames)
    return sorted(set(found))


Batch = set[tuple[int, str]]


def folder_count(folder: Path) -> int:
    """Folders at and below ``folder``: what a recursive watch registers."""
    return sum(1 for _ in os.walk(folder)) if folder.is_dir() else 0


def _watches_in(proc: Path) -> int:
    total = 0
    for entry in (proc / "fdinfo").iterdir():
        try:
            total += entry.read_text().count("inotify wd:")
        except OSError:
            continue
    return total


def inotify_watches() -> int | None:
    """inotify watches this process holds (Linux); None where /proc cannot tell."""
    own = Path("/proc/self")
    return _watches_in(own) if (own / "fdinfo").is_dir() else None


def watches_of_user(uid: int) -> int:
    """inotify watches held by every process of ``uid``: what the kernel's per-user limit counts."""
    used = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if proc.stat().st_uid == uid:
                used += _watches_in(proc)
        except OSError:
            continue
    return used


def fits(more: int) -> bool:
    """Whether ``more`` watches fit under this user's limit (every process of the uid counts)."""
    try:
        limit = int(Path("/proc/sys/fs/inotify/max_user_watches").read_text())
    except (OSError, ValueError):
        return True
    return watches_of_user(os.getuid()) + more <= limit


def _limit(paths: list[Path], why: str) -> WatchLimit:
    biggest = max(paths, key=folder_count)
    return WatchLimit(
        f"the file watch limit was reached while watching {biggest}: {why}",
        hint="raise it (sudo sysctl fs.inotify.max_user_watches=524288), narrow [services.NAME.dev] "
        f"watch, or run with --poll (the folder {biggest} has the most folders)",
    )


class Watcher:
    """One thread watching every root; hands each batch (a set of (change, path)) to ``on_batch``."""

    def __init__(
        self, roots: Roots, extra_files: list[Path], *, poll: bool, on_batch: Callable[[Batch], None]
    ) -> None:
        self.roots = roots
        self.extra = extra_files
        self.poll = poll
        self.on_batch = on_batch
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.armed = threading.Event()
        self.thread = threading.Thread(target=self._run, name="clikd-dev-watcher", daemon=True)

    def start(self) -> None:
        self.thread.start()
        self.armed.wait()
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()

    def _notifier(self, paths: list[Path], recursive: bool) -> object:
        from watchfiles._rust_notify import RustNotify

        try:
            return RustNotify([str(p) for p in paths], False, self.poll, POLL_MS, recursive, True)
        except OSError as exc:
            if "limit" not in str(exc).lower() and getattr(exc, "errno", 0) != 28:
                raise
            raise _limit(paths, str(exc)) from None

    def _check_armed(self) -> None:
        """Every folder has its watch. The notify library skips a subfolder it cannot watch (the
        kernel's limit reached half-way) without a word; counting this process's watches tells."""
        held = inotify_watches()
        if held is None:
            return
        wanted = sum(folder_count(p) for p in self.roots.recursive)
        wanted += len(self.roots.flat) + len(self.roots.files) + len(self.extra)
        # A folder made or removed since the count also makes a difference: only a deficit that
        # would not fit under the user's limit is the limit.
        if held < wanted and not fits(wanted - held):
            deep = [*self.roots.recursive, *self.roots.flat]
            raise _limit(deep or self.roots.files, f"{held} of {wanted} watches were granted")

    def _run(self) -> None:
        try:
            notifiers = []
            deep = [*self.roots.recursive, *self.roots.files, *self.extra]
            if deep:
                notifiers.append(self._notifier(deep, True))
            if self.roots.flat:
                notifiers.append(self._notifier(self.roots.flat, False))
            if not self.poll:
                self._check_armed()
        except BaseException as exc:  # handed to the caller's thread by start()
            self.error = exc
            self.armed.set()
            return
        self.armed.set()
        timeout = 100 if len(notifiers) > 1 else 500
        while not self.stop.is_set():
            for notifier in notifiers:
                got = notifier.watch(DEBOUNCE_MS, STEP_MS, timeout, self.stop)  # type: ignore[attr-defined]
                if isinstance(got, set) and got:
                    self.on_batch(got)
                if self.stop.is_set():
                    break
        for notifier in notifiers:
            notifier.close()  # type: ignore[attr-defined]
