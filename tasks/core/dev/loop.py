"""The env.dev session: enter dev mode, sync, then one cycle at a time until stopped.

Test hooks: with CLIKD_DEV_HOOKS=DIR the session writes DIR/watching once the watcher is armed,
DIR/pending (the number of changed paths waiting) whenever a batch arrives, and one JSON line per
cycle to DIR/cycles.jsonl; while DIR/hold exists, batches wait (they are merged into one cycle).
DIR/queued counts batches handed over while a cycle runs; with DIR/pause-ACTION present a cycle of
that action writes DIR/at-ACTION and waits until the pause file is removed.
"""

from __future__ import annotations

import json
import os
import queue
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.core.dev import container as dc
from tasks.core.dev import rules, state, sync
from tasks.core.dev.model import Cycle, DevResult, DevService
from tasks.core.dev.watch import Batch, Watcher, split_roots, walk_files
from tasks.core.errors import ClikdError

if TYPE_CHECKING:
    import docker

    from tasks.core.stack.spec import Stack

CycleSink = Callable[[Cycle], None]


class HeadMoved(ClikdError):
    title = "branch changed"


def git_head(source: Path) -> Path | None:
    for folder in (source, *source.parents):
        head = folder / ".git" / "HEAD"
        if head.is_file():
            return head
    return None


def _now() -> str:
    return time.strftime("%H:%M:%S")


@dataclass
class Live:
    """One service under the session."""

    target: dc.DevTarget
    dest: str = "/"
    owner: sync.Owner = field(default_factory=lambda: sync.Owner(0, 0))
    named: set[str] = field(default_factory=set)  # unmatched paths already named
    report: DevService | None = None


class DevSession:
    def __init__(  # noqa: PLR0917
        self,
        client: docker.DockerClient,
        stack: Stack,
        targets: list[dc.DevTarget],
        root: Path,
        slug: str,
        on_cycle: CycleSink,
        poll: bool = False,
    ) -> None:
        self.client = client
        self.stack = stack
        self.live = {t.name: Live(t) for t in targets}
        self.root = root
        self.slug = slug
        self.on_cycle = on_cycle
        self.poll = poll
        self.hooks = Path(os.environ["CLIKD_DEV_HOOKS"]) if os.environ.get("CLIKD_DEV_HOOKS") else None
        self.batches: queue.Queue[Batch] = queue.Queue()

    # ------------------------------------------------------------------ entering
    def enter(self) -> None:
        for live in self.live.values():
            began = time.monotonic()
            target = live.target
            image_id = dc.build(self.client, target)
            have = self.client.api.inspect_container(target.container)
            labels = (have.get("Config") or {}).get("Labels") or {}
            from tasks.core.stack.model import LABEL_DEV

            if have.get("Image") != image_id or not labels.get(LABEL_DEV) or not have["State"].get("Running"):
                dc.swap(self.client, self.stack, target, image_id)
            dc.wait_healthy(self.client, target)
            live.dest = dc.destination(self.client, target)
            live.owner = sync.container_owner(self.client, target.container)
            files = walk_files(target.source, target.dev.watch)
            files = [f for f in files if not rules.ignored(f, tuple(target.dev.ignore))]
            sync.put(self.client, target.container, live.dest, target.source, files, live.owner)
            live.report = DevService(target.name, str(target.source), target.container, live.dest)
            self._emit(live, Cycle(_now(), target.name, "enter", len(files), self._since(began), "ok"))

    @staticmethod
    def _since(began: float) -> float:
        return round(time.monotonic() - began, 3)

    def _emit(self, live: Live, cycle: Cycle) -> None:
        if live.report is not None:
            live.report.cycles.append(cycle)
        state.record(self.root, self.slug, live.target.name, str(live.target.source), cycle)
        if self.hooks is not None:
            with (self.hooks / "cycles.jsonl").open("a") as out:
                out.write(json.dumps(asdict(cycle)) + "\n")
        self.on_cycle(cycle)

    def result(self, ended: str) -> DevResult:
        return DevResult(self.stack.branch, [lv.report for lv in self.live.values() if lv.report], ended)

    # ------------------------------------------------------------------ watching
    def watch(self) -> DevResult:
        """Run cycles until Ctrl+C (KeyboardInterrupt goes up, after the watcher stopped) or HEAD moves."""
        sources = {lv.target.source for lv in self.live.values()}
        heads = {h for h in (git_head(s) for s in sources) if h is not None}
        head_text = {h: h.read_text() for h in heads}
        roots = split_roots(next(iter(sources)), [])
        for live in self.live.values():
            more = split_roots(live.target.source, live.target.dev.watch)
            roots.recursive += more.recursive
            roots.flat += more.flat
            roots.files += more.files
        watcher = Watcher(roots, sorted(heads), poll=self.poll, on_batch=self._queue)
        watcher.start()
        pending: dict[str, bool] = {}
        try:
            self._mark("watching", str(os.getpid()))
            while True:
                try:
                    batch = self.batches.get(timeout=0.2)
                except queue.Empty:
                    if watcher.error is not None:
                        raise watcher.error from None
                    batch = None
                if batch is not None:
                    self._drain(batch, pending)
                if not pending:
                    continue
                self._mark("pending", str(len(pending)))
                if self.hooks is not None and (self.hooks / "hold").exists():
                    continue
                for head in heads:
                    # Read every time, not only on a HEAD event: git replaces the file, which can
                    # end the watch on it, and a branch switch always changes files too.
                    if head.read_text() != head_text[head]:
                        now = head.read_text().strip().removeprefix("ref: refs/heads/")
                        raise HeadMoved(
                            f"the checkout moved to {now!r}: syncing stopped, so its code does not land in "
                            f"branch {self.stack.branch!r}'s stack",
                            hint=f"run env.dev again on the branch you work on now (its own stack), "
                            f"or switch back to {self.stack.branch!r}",
                        )
                changed, pending = pending, {}
                self.cycle(changed)
        finally:
            watcher.close()

    def _queue(self, batch: Batch) -> None:
        """The watcher thread's hand-off: batches wait here while a cycle runs."""
        self.batches.put(batch)
        self._mark("queued", str(self.batches.qsize()))

    def _pause(self, phase: str) -> None:
        """Test hook: with DIR/pause-PHASE present, say so in DIR/at-PHASE and wait for its removal."""
        if self.hooks is None or not (self.hooks / f"pause-{phase}").exists():
            return
        self._mark(f"at-{phase}", "")
        while (self.hooks / f"pause-{phase}").exists():
            time.sleep(0.02)

    def _drain(self, batch: Batch, pending: dict[str, bool]) -> None:
        """Merge ``batch`` and every batch already queued into ``pending`` (path -> still exists)."""
        got: Batch | None = batch
        while got is not None:
            for _change, path in got:
                pending[path] = Path(path).exists()
                if Path(path).is_dir():
                    # inotify arms a new folder only after it appeared: files made in it before
                    # that are found by walking it.
                    for rel in walk_files(Path(path), ["."]):
                        pending[str(Path(path) / rel)] = True
            try:
                got = self.batches.get_nowait()
            except queue.Empty:
                got = None

    def _mark(self, name: str, text: str) -> None:
        if self.hooks is not None:
            tmp = self.hooks / f".{name}.tmp"
            tmp.write_text(text)
            tmp.replace(self.hooks / name)

    # ------------------------------------------------------------------ cycles
    def cycle(self, changed: dict[str, bool]) -> None:
        """One cycle per service that owns some of the changed absolute paths."""
        for live in self.live.values():
            source = live.target.source
            mine: dict[str, bool] = {}
            for path, exists in changed.items():
                try:
                    rel = Path(path).relative_to(source).as_posix()
                except ValueError:
                    continue
                if Path(path).is_dir():
                    continue  # the files inside come as events of their own
                if not rules.ignored(rel, tuple(live.target.dev.ignore)):
                    mine[rel] = exists
            if mine:
                self.apply(live, mine)

    def apply(self, live: Live, changed: dict[str, bool]) -> None:
        began = time.monotonic()
        target = live.target
        decision = rules.decide(changed, target.dev)
        self._pause(decision.action or "ignored")
        fresh = [p for p in decision.unmatched if p not in live.named]
        live.named.update(fresh)
        files = len(changed) - len(decision.unmatched)
        if not decision.action:
            if fresh:
                self._emit(live, Cycle(_now(), target.name, "ignored", 0, 0.0, "ignored", unmatched=fresh))
            return
        action = decision.action
        try:
            if action in ("sync", "sync+exec", "sync+restart"):
                if not sync.delete(self.client, target.container, live.dest, decision.delete):
                    action = "rebuild"  # no rm in the image: the new image drops the files
                else:
                    sync.put(
                        self.client, target.container, live.dest, target.source, decision.sync, live.owner
                    )
            if action == "sync+exec":
                for cmd in decision.execs:
                    code, out = sync.run_exec(self.client, target.container, cmd, workdir=live.dest)
                    if code != 0:
                        raise ClikdError(
                            f"{' '.join(cmd)} exited {code} in {target.container}",
                            details=out.rstrip().splitlines()[-dc.BUILD_TAIL :],
                        )
            if action in ("sync+restart", "restart"):
                dc.restart(self.client, target)
                dc.wait_healthy(self.client, target)
            if action == "rebuild":
                image_id = dc.build(self.client, target)
                dc.swap(self.client, self.stack, target, image_id)
                dc.wait_healthy(self.client, target)
                live.owner = sync.container_owner(self.client, target.container)
        except (ClikdError, sync.SyncFailed) as exc:
            details = list(getattr(exc, "details", []))
            message = exc.message if isinstance(exc, ClikdError) else str(exc)
            cycle = Cycle(
                _now(),
                target.name,
                action,
                files,
                self._since(began),
                "failed",
                message,
                details,
                decision.trigger,
                fresh,
            )
            self._emit(live, cycle)
            return
        self._emit(
            live,
            Cycle(
                _now(), target.name, action, files, self._since(began), "ok", "", [], decision.trigger, fresh
            ),
        )
