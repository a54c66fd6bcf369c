"""env.dev's pure parts: rule matching and precedence, ignores, watch roots without heavy folders."""

from __future__ import annotations

from pathlib import Path

from tasks.core.config.schema import Dev, DevRule
from tasks.core.dev.rules import decide, ignored, matches
from tasks.core.dev.watch import split_roots, walk_files


def test_globs() -> None:
    assert matches("src/**", "src/a/b.rs")
    assert not matches("src/*", "src/a/b.rs")
    assert matches("**/*.ts", "a.ts") and matches("**/*.ts", "x/y/a.ts")
    assert matches(".next/", ".next/cache/x") and not matches("Cargo.toml", "sub/Cargo.toml")


def test_ignores() -> None:
    assert ignored(".git/HEAD", ())
    assert ignored("src/.main.rs.swp", ())
    assert ignored("target/debug/x", ()) and ignored("web/node_modules/a/b.js", ())
    assert ignored("a/b.test.tsx", ("*.test.tsx",))
    assert not ignored("src/main.rs", ("*.test.tsx",))


def test_precedence_and_unmatched() -> None:
    dev = Dev(
        rules=[
            DevRule(paths=["Cargo.toml"], action="rebuild"),
            DevRule(paths=["config/**"], action="sync+restart"),
            DevRule(paths=["hooks/**"], action="sync+exec", exec=["make"]),
            DevRule(paths=["src/**"]),
        ]
    )
    got = decide({"src/a.rs": True, "src/b.rs": False, "notes.md": True}, dev)
    assert (got.action, got.sync, got.delete, got.unmatched) == (
        "sync",
        ["src/a.rs"],
        ["src/b.rs"],
        ["notes.md"],
    )
    assert decide({"src/a.rs": True, "hooks/x": True}, dev).execs == [["make"]]
    assert decide({"src/a.rs": True, "config/x": True}, dev).action == "sync+restart"
    got = decide({"src/a.rs": True, "config/x": True, "Cargo.toml": True}, dev)
    assert (got.action, got.trigger) == ("rebuild", "Cargo.toml")
    assert decide({"only.md": True}, dev).action == ""


def test_default_rules() -> None:
    assert decide({"Dockerfile": True}, Dev()).action == "rebuild"
    assert decide({"anything/x.py": True}, Dev()).action == "sync"


def test_heavy_folders_are_kept_out_of_the_watch(tmp_path: Path) -> None:
    for folder in ("src/a", "src/b", "target/debug/deps", "web/node_modules/x", "web/app"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "f.txt").write_text("x")
    (tmp_path / "Cargo.toml").write_text("")
    roots = split_roots(tmp_path, ["."])
    assert roots.flat == [tmp_path, tmp_path / "web"]
    assert sorted(roots.recursive) == [tmp_path / "src", tmp_path / "web" / "app"]
    files = walk_files(tmp_path, ["."])
    assert "Cargo.toml" in files and "src/a/f.txt" in files
    assert not [f for f in files if f.startswith(("target/", "web/node_modules/"))]
