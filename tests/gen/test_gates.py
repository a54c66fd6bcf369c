"""The compile gates are real: hand-written valid clients pass, deliberately broken ones fail, and each
failure is attributed to the folder that holds it, while several folders share one compiler run.

Needs the toolchains of ``tests/infra/toolchains/up`` (a missing one fails these tests, never skips them).
The samples live in ``tests/gen/gate_samples/<language>/{valid,valid_two,broken}``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.gen.gates import (
    GateResult,
    ToolchainMissingError,
    kotlin_compile,
    kotlin_groups,
    python_import,
    swift_parse,
    toolchains_home,
    typescript_check,
)

SAMPLES = Path(__file__).resolve().parent / "gate_samples"


def _only_failure(result: GateResult, folder: Path) -> str:
    assert not result.ok, result.output
    assert set(result.failures) == {str(folder)}, result.failures
    return result.failures[str(folder)]


# ---------------------------------------------------------------------------------------------- typescript


def test_typescript_valid_clients_pass_strict_check() -> None:
    result = typescript_check([SAMPLES / "typescript" / "valid", SAMPLES / "typescript" / "valid_two"])
    assert result.ok, result.output
    assert result.failures == {}


def test_typescript_broken_client_fails_and_only_it() -> None:
    ts = SAMPLES / "typescript"
    result = typescript_check([ts / "valid", ts / "broken", ts / "valid_two"])
    text = _only_failure(result, ts / "broken")
    assert f"{ts / 'broken' / 'index.ts'}(9,9): error TS2322" in text
    # --strict is on: strictNullChecks reports the possibly-undefined `first`
    assert "TS18048" in text


def test_typescript_folder_without_sources_fails(tmp_path: Path) -> None:
    empty = tmp_path / "empty-client"
    empty.mkdir()
    (empty / "README.md").write_text("no code\n")
    result = typescript_check([SAMPLES / "typescript" / "valid", empty])
    assert "TS18003" in _only_failure(result, empty)


# ------------------------------------------------------------------------------------------------- kotlin


@pytest.fixture(scope="module")
def kotlin_run() -> GateResult:
    """One gate call over valid, broken and valid_two: a combined compile, then the confirming compile of
    the two folders without errors (two compiler JVMs in all)."""
    kt = SAMPLES / "kotlin"
    return kotlin_compile([kt / "valid", kt / "broken", kt / "valid_two"])


def test_kotlin_broken_client_fails_and_only_it(kotlin_run: GateResult) -> None:
    kt = SAMPLES / "kotlin"
    text = _only_failure(kotlin_run, kt / "broken")
    assert f"{kt / 'broken' / 'Client.kt'}:13:32: error: return type mismatch" in text


def test_kotlin_valid_clients_compile_with_serialization_and_ktor(kotlin_run: GateResult) -> None:
    # valid/ calls Pet.serializer(), which exists only when the kotlinx-serialization plugin ran, and
    # builds a Ktor HttpClient with ContentNegotiation + json() in suspend funs.
    kt = SAMPLES / "kotlin"
    runs = kotlin_run.output.split("$ kotlinc ")[1:]
    assert len(runs) == 2, kotlin_run.output
    assert runs[0].startswith(f"(4 files of 3 folders: {kt / 'valid'}, {kt / 'broken'}, {kt / 'valid_two'})")
    # the confirming compile: both valid folders together, without the broken one, and no diagnostic at all
    header, _, diagnostics = runs[1].partition("\n")
    assert header == f"(3 files of 2 folders: {kt / 'valid'}, {kt / 'valid_two'})"
    assert "error:" not in diagnostics, diagnostics


def test_kotlin_folders_sharing_a_package_compile_in_separate_groups(tmp_path: Path) -> None:
    def client(name: str, package: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "Api.kt").write_text(f"package {package}\n\nclass Api\n")
        return folder

    a, b, c = client("a", "com.example.one"), client("b", "com.example.one"), client("c", "com.example.two")
    groups = kotlin_groups({f: [f / "Api.kt"] for f in (a, b, c)})
    assert groups == [[a, c], [b]]


# -------------------------------------------------------------------------------------------------- swift


def test_swift_valid_client_parses() -> None:
    result = swift_parse([SAMPLES / "swift" / "valid"])
    assert result.ok, result.output
    assert "parsed 2 .swift files" in result.output
    # `return () as? T` and `completion(())`: valid Swift that tree-sitter-swift 0.7.4 cannot parse
    assert "tolerated 2 empty tuple expressions" in result.output


def test_swift_broken_client_fails_with_file_line_col() -> None:
    sw = SAMPLES / "swift"
    result = swift_parse([sw / "valid", sw / "broken"])
    text = _only_failure(result, sw / "broken")
    assert f"{sw / 'broken' / 'Orders.swift'}:10:" in text


# ------------------------------------------------------------------------------------------------- python


def test_python_valid_package_imports_with_submodules() -> None:
    result = python_import(SAMPLES / "python" / "valid", "petclient")
    assert result.ok, result.output
    assert "imported 4 modules of petclient" in result.output


def test_python_broken_submodule_fails() -> None:
    folder = SAMPLES / "python" / "broken"
    result = python_import(folder, "brokenclient")
    assert "No module named 'brokenclient.models_that_do_not_exist'" in _only_failure(result, folder)


# --------------------------------------------------------------------------------------------- toolchains


def test_missing_toolchain_fails_naming_the_up_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLIKD_TESTBED_HOME", str(tmp_path))
    assert toolchains_home() == tmp_path / "toolchains"
    with pytest.raises(RuntimeError, match="tests/infra/toolchains/up") as raised:
        typescript_check([SAMPLES / "typescript" / "valid"])
    assert isinstance(raised.value, ToolchainMissingError)
    with pytest.raises(ToolchainMissingError, match="tests/infra/toolchains/up kotlin"):
        kotlin_compile([SAMPLES / "kotlin" / "valid"])


def test_a_kept_kotlin_pass_is_reused_only_for_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLIKD_GATE_VERDICTS", "on")
    monkeypatch.setenv("CLIKD_GATE_VERDICTS_DIR", str(tmp_path / "verdicts"))
    client = tmp_path / "client"
    shutil.copytree(SAMPLES / "kotlin" / "valid", client)

    first = kotlin_compile([client], confirm=False)
    assert first.ok, first.output
    assert "pass kept" not in first.output and "kotlinc exit status 0" in first.output
    again = kotlin_compile([client], confirm=False)
    assert again.ok and "pass kept from" in again.output, again.output

    # One byte more is new code: the compiler runs again and its error is this run's own.
    models = client / "Models.kt"
    models.write_text(models.read_text() + '\nval broken: Int = "text"\n')
    changed = kotlin_compile([client], confirm=False)
    assert "pass kept" not in changed.output
    assert "type mismatch" in _only_failure(changed, client)

    # Verdicts off: the compiler runs even for bytes that passed before.
    shutil.copy(SAMPLES / "kotlin" / "valid" / "Models.kt", models)
    monkeypatch.setenv("CLIKD_GATE_VERDICTS", "off")
    forced = kotlin_compile([client], confirm=False)
    assert forced.ok and "pass kept" not in forced.output, forced.output
