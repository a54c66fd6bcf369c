"""Hostile documents through the real gen tasks: Python through openapi-python-client, and gen.all
where one language fails while the others are written.

The Python client is proven by importing it and by mypy --strict over it, not by reading its text.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace

from tasks.core.codegen.run import generate
from tasks.core.config.schema import Settings
from tests.gen import verdicts
from tests.gen.conftest import REPO, corpus_documents

HOSTILE = Path(__file__).resolve().parent / "hostile"
KNOWN = tomllib.loads((REPO / "codegen" / "known-failures.toml").read_text())
KNOWN_FAILURES: dict[str, Any] = KNOWN.get("failures", {})
CLIKD = str(REPO / ".venv" / "bin" / "clikd")


def clikd(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIKD_")}
    return subprocess.run(
        [CLIKD, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**env, "COLUMNS": "100", "CLIKD_NO_PROMPT": "1"},
        check=False,
    )


def test_colliding_names_generate_a_python_client_that_imports_and_passes_mypy(tmp_path: Path) -> None:
    out = tmp_path / "py"
    run = clikd("gen.python", "--spec", str(HOSTILE / "python_names.yaml"), "--output", str(out), "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    (result,) = json.loads(run.stdout)["results"]
    assert result["status"] == "generated"
    notes = "\n".join(result["notes"])
    assert "#/components/schemas/account: named account2 in Python (its class name is taken)" in notes
    assert "#/components/schemas/State: enum member names chosen for Python" in notes
    package = out / "clikd_api"
    models = {p.name for p in (package / "models").iterdir()}
    assert {"account.py", "account_2.py", "state.py"} <= models  # both schemas kept

    probe = (
        "import clikd_api.models as m; "
        "print(sorted(s.value for s in m.State)); print(m.Account2.__name__, m.Account.__name__)"
    )
    imported = subprocess.run(
        [sys.executable, "-c", probe], cwd=out, capture_output=True, text=True, check=False, timeout=120
    )
    assert imported.returncode == 0, imported.stderr
    values = json.loads(imported.stdout.splitlines()[0].replace("'", '"'))
    assert values == sorted(
        ["ACTIVE", "active", "Active!", "in-progress", "in_progress", "class", "1st", "None", ""]
    )

    typed = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "clikd_api"],
        cwd=out,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert typed.returncode == 0, typed.stdout + typed.stderr


WIRE_PROBE = """
import json, sys
from clikd_api.models import Holder, Thing
thing = {"from_dict": "f", "to_dict": "t", "d": 4, "item": 1, "Item": "I",
         "additional_properties": "a", "extra": 7}
back = Thing.from_dict(thing)
got = (back.from_dict_field, back.to_dict_field, back.d_field, back.item, back.item_2)
assert got == ("f", "t", 4, 1, "I"), got
assert back.additional_properties_field == "a" and back["extra"] == 7
assert back.to_dict() == thing, back.to_dict()
holder = {"thing": thing, "input": ["a", {"id": "x"}], "mode": "fast",
          "derived": {"kind": "derived", "size": 2}}
assert Holder.from_dict(holder).to_dict() == holder, Holder.from_dict(holder).to_dict()
print("ok")
"""


def test_names_python_breaks_on_get_other_attributes_and_keep_their_wire_names(tmp_path: Path) -> None:
    out = tmp_path / "py"
    spec = str(HOSTILE / "python_wire.yaml")
    run = clikd("gen.python", "--spec", spec, "--output", str(out), "--json", "--no-validate")
    assert run.returncode == 0, run.stdout + run.stderr
    (result,) = json.loads(run.stdout)["results"]
    notes = "\n".join(result["notes"])
    for said in (
        "Thing/properties/from_dict: attribute from_dict_field in Python (its name is used by the model",
        "Thing/properties/Item: attribute item_2 in Python (its name is taken by another property)",
        "#/components/schemas/Mode/default: [] left out in Python",
        "#/components/schemas/Input/oneOf: its 2 arrays are one array of their items in Python",
        "#/components/schemas/Derived: typed as a dict of any properties in Python (opc could not parse it)",
    ):
        assert said in notes, notes
    assert "schemas/Holder: typed as" not in notes  # it came back once Derived was free-form

    # The wire names survive a round trip through the generated models.
    probe = subprocess.run(
        [sys.executable, "-c", WIRE_PROBE], cwd=out, capture_output=True, text=True, check=False, timeout=120
    )
    assert probe.returncode == 0 and probe.stdout.strip() == "ok", probe.stdout + probe.stderr
    typed = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "clikd_api"],
        cwd=out,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert typed.returncode == 0, typed.stdout + typed.stderr


def test_a_refused_document_names_the_schema_in_a_few_lines_without_a_traceback(tmp_path: Path) -> None:
    run = clikd("gen.python", "--spec", str(HOSTILE / "python_refused.yaml"), "--output", str(tmp_path / "p"))
    assert run.returncode == 1, run.stdout + run.stderr
    text = run.stdout + run.stderr
    assert "Duplicate key SAME in enum" in text
    assert "schema: #/components/schemas/Kind" in text
    assert "hint:" in text and "--only swift,kotlin,typescript" in text
    assert "Traceback" not in text and "site-packages" not in text and "❱" not in text
    assert len(run.stderr.splitlines()) <= 15
    assert not (tmp_path / "p").exists()


def test_gen_all_writes_the_languages_that_work_and_marks_the_one_that_failed(tmp_path: Path) -> None:
    spec = str(HOSTILE / "python_refused.yaml")
    run = clikd("gen.all", "--spec", spec, "--output", str(tmp_path), "--json")
    assert run.returncode == 1, run.stdout + run.stderr
    error = json.loads(run.stdout)
    statuses = {r["language"]: r["status"] for r in error["report"]["results"]}
    assert statuses == {
        "swift": "generated",
        "kotlin": "generated",
        "typescript": "generated",
        "python": "failed",
    }
    (python,) = [r for r in error["report"]["results"] if r["language"] == "python"]
    assert "Duplicate key SAME" in python["error"]
    assert (tmp_path / "swift" / "Package.swift").is_file()
    assert (tmp_path / "kotlin" / "build.gradle.kts").is_file()
    assert (tmp_path / "typescript" / "package.json").is_file()
    assert not (tmp_path / "python").exists()

    # For people: the summary table marks python failed with its reason, then the error panel.
    shown = clikd("gen.all", "--spec", spec, "--output", str(tmp_path))
    assert shown.returncode == 1
    assert "unchanged" in shown.stdout and "failed" in shown.stdout
    assert "python: openapi-python-client refused the document" in shown.stdout
    assert "python failed; swift, kotlin, typescript written" in shown.stderr

    # --check reports per language: the written ones are current, python failed.
    check = clikd("gen.all", "--spec", spec, "--output", str(tmp_path), "--check", "--json")
    assert check.returncode == 1, check.stdout + check.stderr
    checked = {r["language"]: r["status"] for r in json.loads(check.stdout)["report"]["results"]}
    assert checked == {"swift": "current", "kotlin": "current", "typescript": "current", "python": "failed"}


def python_documents() -> list[Path]:
    """The shared corpus, the hostile documents Python must take, and the torture suite if present."""
    torture = sorted(
        p for p in (Path(__file__).resolve().parent / "torture").iterdir() if p.suffix in (".yaml", ".json")
    )
    return [*corpus_documents(), HOSTILE / "python_names.yaml", HOSTILE / "python_wire.yaml", *torture]


@pytest.mark.early
def test_every_document_gives_a_python_client_that_imports_and_passes_mypy(tmp_path: Path) -> None:
    base = Settings()
    packages: dict[str, Path] = {}
    for doc in python_documents():
        name = "corpus_" + re.sub(r"[^a-z0-9]+", "_", doc.stem.lower()).strip("_")
        settings = replace(
            base, clients=replace(base.clients, python=replace(base.clients.python, package=name))
        )
        out = tmp_path / name
        generate(settings, REPO, ["python"], spec=str(doc), output=str(out), validate=False)
        packages[doc.name] = out / name
    assert len(packages) >= 20

    imported = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_MODULE, *(str(p) for p in packages.values())],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert imported.returncode == 0, imported.stdout + imported.stderr

    # One mypy run over every package (their names differ), unless these exact packages passed before.
    command = [
        "mypy",
        "--no-incremental",
        "--no-error-summary",
        *(p.relative_to(tmp_path).as_posix() for p in packages.values()),
    ]
    sources = [
        f for p in packages.values() for f in p.rglob("*") if f.is_file() and "__pycache__" not in f.parts
    ]
    tool = [sys.version, verdicts.installed_distributions(), *command]
    digest = verdicts.key("mypy", tool, sources, tmp_path)
    stdout = verdicts.recall("mypy", digest)
    if stdout is None:
        typed = subprocess.run(
            [sys.executable, "-m", *command],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            timeout=1800,
        )
        stdout = typed.stdout + typed.stderr
        if typed.returncode == 0:
            verdicts.keep("mypy", digest, stdout)
    failing = {doc for doc, folder in packages.items() if f"{folder.name}/" in stdout}
    expected = {doc for doc, entry in KNOWN_FAILURES.items() if "python" in entry.get("gates", [])}
    unexpected = failing - expected
    errors = [line for line in stdout.splitlines() if any(f"{packages[d].name}/" in line for d in unexpected)]
    assert not unexpected, "\n".join(errors[:80])
    now_passing = expected - failing
    assert not now_passing, f"now passing, remove from codegen/known-failures.toml: {sorted(now_passing)}"


IMPORT_EVERY_MODULE = """
import importlib, pkgutil, sys
for folder in sys.argv[1:]:
    parent, name = folder.rsplit("/", 1)
    sys.path.insert(0, parent)
    package = importlib.import_module(name)
    for module in pkgutil.walk_packages(package.__path__, name + "."):
        importlib.import_module(module.name)
"""
