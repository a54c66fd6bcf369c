"""Generation end to end in-process: bad documents, determinism, atomic writes, the stamp, --check."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from msgspec.structs import replace

from tasks.core.codegen import clients_current
from tasks.core.codegen.errors import SpecError
from tasks.core.codegen.run import CheckFailedWithReport, GenFailed, generate
from tasks.core.codegen.writer import STAMP, read_tree
from tasks.core.config.schema import Settings
from tasks.core.errors import ConfigError, ExitCode
from tests.gen.conftest import CLIKD_SPEC, REPO

RENDERED = ["swift", "kotlin", "typescript"]


def gen(settings: Settings, out: Path, **kw: object) -> object:
    return generate(settings, REPO, RENDERED, output=str(out), **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------- bad documents


def assert_nothing_written(out: Path) -> None:
    assert not out.exists() or not any(out.iterdir()), sorted(p.name for p in out.iterdir())


def test_invalid_document_names_the_pointer_and_writes_nothing(
    settings: Settings, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec(
        paths={
            "/x": {
                "get": {
                    "responses": {"200": {"description": "ok"}},
                    "parameters": [{"name": "q", "in": "nowhere", "schema": {"type": "string"}}],
                }
            }
        }
    )
    out = tmp_path / "out"
    with pytest.raises(SpecError) as caught:
        gen(settings, out, spec=str(spec))
    assert caught.value.exit_code == ExitCode.CONFIG
    assert "#/paths/~1x/get/parameters/0" in caught.value.message
    assert_nothing_written(out)


def test_unresolvable_ref_names_the_pointer(
    settings: Settings, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec(
        {"A": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/Missing"}}}}
    )
    out = tmp_path / "out"
    with pytest.raises(SpecError) as caught:
        gen(settings, out, spec=str(spec), validate=False)  # the resolver, not the validator, finds it
    assert caught.value.pointer == "/components/schemas/A/properties/b/$ref"
    assert "Missing" in caught.value.message
    assert_nothing_written(out)


def test_external_ref_is_an_unsupported_construct(
    settings: Settings, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec({"A": {"type": "object", "properties": {"b": {"$ref": "other.yaml#/B"}}}})
    out = tmp_path / "out"
    with pytest.raises(SpecError) as caught:
        gen(settings, out, spec=str(spec))
    assert caught.value.pointer == "/components/schemas/A/properties/b"
    assert "external $ref" in caught.value.message
    assert_nothing_written(out)


def test_swagger_2_is_rejected_with_a_hint(settings: Settings, tmp_path: Path) -> None:
    spec = tmp_path / "swagger.json"
    spec.write_text('{"swagger": "2.0", "info": {"title": "x", "version": "1"}, "paths": {}}')
    with pytest.raises(SpecError) as caught:
        gen(settings, tmp_path / "out", spec=str(spec))
    assert caught.value.pointer == "/openapi"
    assert caught.value.hint is not None and "OpenAPI 3" in caught.value.hint


def test_unparseable_yaml(settings: Settings, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("openapi: 3.0.3\ninfo: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        gen(settings, tmp_path / "out", spec=str(spec))


def test_a_missing_spec_file_is_a_config_error(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        gen(settings, tmp_path / "out", spec=str(tmp_path / "nope.yaml"))


def test_a_bad_document_leaves_an_existing_client_untouched(
    settings: Settings, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    gen(settings, out, validate=False)
    before = read_tree(out)
    spec = write_spec({"A": {"$ref": "#/components/schemas/Nope"}})
    with pytest.raises(SpecError):
        gen(settings, out, spec=str(spec), force=True, validate=False)
    assert read_tree(out) == before


# ------------------------------------------------------------------------------- determinism, stamps


def test_two_runs_are_byte_identical(settings: Settings, tmp_path: Path) -> None:
    gen(settings, tmp_path / "a", validate=False)
    gen(settings, tmp_path / "b", validate=False)
    a, b = read_tree(tmp_path / "a"), read_tree(tmp_path / "b")
    assert a.keys() == b.keys()
    assert a == b
    assert len(a) > 100


def test_unchanged_inputs_are_skipped_and_changes_regenerate(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = gen(settings, out, validate=False)
    assert [r.status for r in first.results] == ["generated"] * 3  # type: ignore[attr-defined]
    second = gen(settings, out, validate=False)
    assert [r.status for r in second.results] == ["unchanged"] * 3  # type: ignore[attr-defined]
    # an edited generated file is not "unchanged": the next run repairs it
    edited = out / "typescript" / "src" / "models.ts"
    edited.write_text("// edited\n")
    third = gen(settings, out, validate=False)
    assert [r.status for r in third.results] == ["unchanged", "unchanged", "generated"]  # type: ignore[attr-defined]
    assert edited.read_text() != "// edited\n"
    # a changed spec regenerates everything
    spec = tmp_path / "spec.yaml"
    spec.write_text(CLIKD_SPEC.read_text().replace("version: 1.0.0", "version: 1.0.1", 1))
    fourth = gen(settings, out, spec=str(spec), validate=False)
    assert [r.status for r in fourth.results] == ["generated"] * 3  # type: ignore[attr-defined]


def test_changed_templates_regenerate(settings: Settings, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(REPO / "codegen" / "templates", templates)
    custom = replace(settings, codegen=replace(settings.codegen, templates=str(templates)))
    out = tmp_path / "out"
    gen(custom, out, validate=False)
    readme = templates / "swift" / "README.md.j2"
    readme.write_text(readme.read_text() + "\nAdjusted by the iOS team.\n")
    again = gen(custom, out, validate=False)
    assert [r.status for r in again.results] == ["generated", "unchanged", "unchanged"]  # type: ignore[attr-defined]
    assert "Adjusted by the iOS team." in (out / "swift" / "README.md").read_text()


def test_files_the_generator_does_not_own_survive_regeneration(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "out"
    gen(settings, out, validate=False)
    (out / "typescript" / "node_modules" / "x").mkdir(parents=True)
    (out / "typescript" / "node_modules" / "x" / "index.js").write_text("ok")
    gen(settings, out, validate=False, force=True)
    assert (out / "typescript" / "node_modules" / "x" / "index.js").read_text() == "ok"


def test_a_failing_render_leaves_the_previous_client_whole(settings: Settings, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(REPO / "codegen" / "templates", templates)
    custom = replace(settings, codegen=replace(settings.codegen, templates=str(templates)))
    out = tmp_path / "out"
    gen(custom, out, validate=False)
    before = read_tree(out)
    (templates / "kotlin" / "Model.kt.j2").write_text("{{ m.no_such_attribute }}")
    with pytest.raises(GenFailed) as caught:
        gen(custom, out, validate=False)
    # Kotlin failed and kept its previous client whole; the others went on (their inputs did not
    # change, so they are unchanged).
    assert [(r.language, r.status) for r in caught.value.report.results] == [
        ("swift", "unchanged"), ("kotlin", "failed"), ("typescript", "unchanged"),
    ]  # fmt: skip
    assert "Model.kt.j2" in caught.value.report.results[1].error
    assert read_tree(out) == before
    assert sorted(p.name for p in out.iterdir()) == ["kotlin", "swift", "typescript"]  # no temp folders left


def test_stamp_is_deterministic_and_lists_every_file(settings: Settings, tmp_path: Path) -> None:
    gen(settings, tmp_path / "a", validate=False)
    gen(settings, tmp_path / "b", validate=False)
    raw = (tmp_path / "a" / "swift" / STAMP).read_bytes()
    assert raw == (tmp_path / "b" / "swift" / STAMP).read_bytes()
    stamp = json.loads(raw)
    assert stamp["validated"] is False
    files = read_tree(tmp_path / "a" / "swift")
    assert set(files) - {STAMP} == set(stamp["files"])
    assert all(hashlib.sha256(files[k]).hexdigest() == v for k, v in stamp["files"].items())


# ---------------------------------------------------------------------------------------------- check


def test_check_passes_on_current_clients_and_lists_differences(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "out"
    gen(settings, out, validate=False)
    ok = gen(settings, out, check=True, validate=False)
    assert [r.status for r in ok.results] == ["current"] * 3  # type: ignore[attr-defined]
    (out / "kotlin" / "README.md").write_text("changed\n")
    (out / "swift" / "Sources" / "ClikdAPI" / "Models" / "Stale.swift").write_text("// old model\n")
    (out / "typescript" / "src" / "index.ts").unlink()
    before = read_tree(out)
    with pytest.raises(CheckFailedWithReport) as caught:
        gen(settings, out, check=True, validate=False)
    assert caught.value.exit_code == ExitCode.CHECK_FAILED
    assert caught.value.details == [
        "swift: stale    Sources/ClikdAPI/Models/Stale.swift",
        "kotlin: changed  README.md",
        "typescript: missing  src/index.ts",
    ]
    assert read_tree(out) == before  # --check never writes


# ----------------------------------------------------------------------------------- clients_current


def test_clients_current_for_env_status(settings: Settings, tmp_path: Path) -> None:
    clients = replace(
        settings.clients,
        **{
            lang: replace(getattr(settings.clients, lang), output=str(tmp_path / lang))
            for lang in ("swift", "kotlin", "typescript", "python")
        },
    )
    local = replace(settings, clients=clients)
    assert clients_current(local, REPO) == {"swift": None, "kotlin": None, "typescript": None, "python": None}
    generate(local, REPO, ["swift", "typescript"], validate=False)
    assert clients_current(local, REPO) == {"swift": True, "kotlin": None, "typescript": True, "python": None}
    spec = tmp_path / "changed.yaml"
    spec.write_text(CLIKD_SPEC.read_text().replace("version: 1.0.0", "version: 2.0.0", 1))
    assert clients_current(local, REPO, spec=str(spec)) == {
        "swift": False,
        "kotlin": None,
        "typescript": False,
        "python": None,
    }


# ---------------------------------------------------------------------------------- validation cache


def test_validation_verdicts_are_cached_per_document(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, write_spec: Callable[..., Path]
) -> None:
    from tasks.core.codegen import spec as spec_mod

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    loaded = spec_mod.load(spec_mod.SpecSource("file", str(CLIKD_SPEC)), timeout=5)
    assert spec_mod.validate_cached(loaded.document, loaded.digest, source="clikd") is False
    assert spec_mod.validate_cached(loaded.document, loaded.digest, source="clikd") is True
    bad = write_spec(paths={"/x": {"get": {}}})  # an operation without responses
    loaded_bad = spec_mod.load(spec_mod.SpecSource("file", str(bad)), timeout=5)
    for _ in range(2):  # a failing verdict is never cached
        with pytest.raises(SpecError):
            spec_mod.validate_cached(loaded_bad.document, loaded_bad.digest, source="bad")


def test_yaml_dates_become_strings(settings: Settings, tmp_path: Path) -> None:
    # unquoted dates in examples are YAML dates; the document is JSON data (Python client, digest)
    spec = tmp_path / "dates.yaml"
    spec.write_text(
        CLIKD_SPEC.read_text().replace("    Game:\n", "    Game:\n      example: {released: 2021-01-01}\n", 1)
    )
    report = generate(settings, REPO, ["python"], spec=str(spec), output=str(tmp_path / "py"), validate=False)
    assert report.results[0].status == "generated"
