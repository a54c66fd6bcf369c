"""clikd.toml: layering, and a precise error for each kind of mistake."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tasks.core.config.loader import load
from tasks.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
[project]
name = "clikd"

[databases.postgres]
kind = "postgres"
image = "postgres:16"
port = 5432
user = "clikd"
password = "clikd_dev"

[services.auth]
image = "auth:latest"
ports = { http = 3001 }
depends_on = ["postgres"]

[services.api]
image = "api:latest"
ports = { http = 3002 }
depends_on = ["auth"]
"""


def write(folder: Path, text: str, name: str = "clikd.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def fail(folder: Path, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(folder, env=env or {})
    return caught.value


def test_good_config_loads(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    loaded = load(tmp_path, env={})
    assert loaded.settings.services["auth"].ports == {"http": 3001}
    assert loaded.settings.services["api"].health.kind == "http"  # a built-in default
    assert loaded.root == tmp_path.resolve()


def test_precedence_defaults_file_local_env_flags(tmp_path: Path) -> None:
    write(tmp_path, GOOD + "\n[development]\nstart_timeout = 10\nparallel_pulls = 2\nauto_seed = false\n")
    assert load(tmp_path, env={}).settings.development.start_timeout == 10
    assert load(tmp_path, env={}).settings.development.auto_migrate is True  # default kept
    write(tmp_path, "[development]\nstart_timeout = 20\nparallel_pulls = 3\n", "clikd.local.toml")
    assert load(tmp_path, env={}).settings.development.start_timeout == 20
    env = {"CLIKD_DEVELOPMENT__START_TIMEOUT": "30"}
    loaded = load(tmp_path, env=env)
    assert loaded.settings.development.start_timeout == 30
    assert loaded.settings.development.parallel_pulls == 3  # from the local layer
    assert loaded.settings.development.auto_seed is False  # from the file
    flags = {"development": {"start_timeout": 40}}
    assert load(tmp_path, env=env, overrides=flags).settings.development.start_timeout == 40


def test_env_values_are_read_as_toml_when_they_are(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    env = {
        "CLIKD_DEVELOPMENT__AUTO_SEED": "false",
        "CLIKD_SERVICES__API__DEPENDS_ON": '["postgres"]',
        "CLIKD_DATABASES__POSTGRES__PASSWORD": "s3cret:x",
    }
    settings = load(tmp_path, env=env).settings
    assert settings.development.auto_seed is False
    assert settings.services["api"].depends_on == ["postgres"]
    assert settings.databases["postgres"].password == "s3cret:x"


def test_environment_variable_names_keep_their_case(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    env = {"CLIKD_SERVICES__API__ENVIRONMENT__LOG_LEVEL": "debug", "CLIKD_SERVICES__API__ENVIRONMENT__x": "1"}
    settings = load(tmp_path, env=env).settings
    assert settings.services["api"].environment == {"LOG_LEVEL": "debug", "x": "1"}


def test_clikd_config_selects_another_file_and_its_local_layer(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    write(other, GOOD.replace('name = "clikd"', 'name = "other"'), "ci.toml")
    write(other, "[development]\nparallel_pulls = 7\n", "ci.local.toml")
    loaded = load(tmp_path, env={"CLIKD_CONFIG": str(other / "ci.toml")})
    assert loaded.settings.project.name == "other"
    assert loaded.settings.development.parallel_pulls == 7
    assert loaded.path == (other / "ci.toml").resolve()


# ------------------------------------------------------------------------------ the kinds of mistake


def test_1_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "\n[development\nauto_seed = true\n")
    error = fail(tmp_path)
    assert str(path) in error.message and "line 21" in error.message


def test_2_unknown_section_suggests_the_nearest(tmp_path: Path) -> None:
    write(tmp_path, GOOD + "\n[developement]\nauto_seed = true\n")
    error = fail(tmp_path)
    assert "developement: unknown key" in error.message
    assert error.hint == "did you mean 'development'?"
    assert "line 21" in error.message


def test_3_unknown_key_in_a_service_names_the_line(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace('image = "api:latest"', 'imgae = "api:latest"'))
    error = fail(tmp_path)
    assert "services.api" in error.message
    assert "did you mean 'image'?" in (error.hint or "") + " ".join(error.details)
    assert any("imgae" in text for text in [error.message, *error.details])


def test_4_wrong_type_says_what_was_found(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace("ports = { http = 3001 }", 'ports = { http = "three" }'))
    error = fail(tmp_path)
    assert "services.auth.ports.http" in error.message
    assert "'three'" in error.message and "integer" in error.message
    assert "line 13" in error.message


def test_5_port_out_of_range(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace("port = 5432", "port = 70000"))
    error = fail(tmp_path)
    assert "databases.postgres" in error.message and "70000" in error.message


def test_6_depends_on_an_unknown_service(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace('depends_on = ["auth"]', 'depends_on = ["auht"]'))
    error = fail(tmp_path)
    assert "'auht'" in error.message and "depends_on" in error.message


def test_7_dependency_cycle(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace('depends_on = ["postgres"]', 'depends_on = ["api"]'))
    error = fail(tmp_path)
    assert "cycle" in error.message and "auth" in error.message and "api" in error.message


def test_8_value_outside_a_choice(tmp_path: Path) -> None:
    write(tmp_path, GOOD + '\n[services.api.health]\nkind = "grpc"\n')
    error = fail(tmp_path)
    assert "services.api.health.kind" in error.message
    assert "'http'" in error.message and "'grpc'" in error.message


def test_9_container_database_without_image(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace('image = "postgres:16"\n', ""))
    error = fail(tmp_path)
    assert "databases.postgres" in error.message and "needs an image" in error.message


def test_10_missing_config_file(tmp_path: Path) -> None:
    error = fail(tmp_path, env={"CLIKD_CONFIG": str(tmp_path / "nope.toml")})
    assert "does not exist" in error.message and "nope.toml" in error.message
    assert error.hint and "CLIKD_CONFIG" in error.hint


def test_11_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    error = fail(tmp_path, env={"CLIKD_DEVELOPMENT__START_TIMEOUT": "soon"})
    assert "CLIKD_DEVELOPMENT__START_TIMEOUT" in error.message and "'soon'" in error.message


def test_12_unknown_environment_key_suggests(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    error = fail(tmp_path, env={"CLIKD_DEVELOPMENT__AUTO_MIGRAT": "true"})
    assert "CLIKD_DEVELOPMENT__AUTO_MIGRAT" in error.message
    assert error.hint == "did you mean 'auto_migrate'?"


def test_13_negative_timeout(tmp_path: Path) -> None:
    write(tmp_path, GOOD + "\n[services.api.health]\ntimeout = -5\n")
    error = fail(tmp_path)
    assert "services.api.health.timeout" in error.message and "-5" in error.message


def test_14_bad_project_name(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace('name = "clikd"', 'name = "Clikd Platform"'))
    error = fail(tmp_path)
    assert "project.name" in error.message and "line 2" in error.message


def test_15_local_layer_mistake_names_the_local_file(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    local = write(tmp_path, "[development]\nparallel_pulls = 99\n", "clikd.local.toml")
    error = fail(tmp_path)
    assert str(local) in error.message and "development.parallel_pulls" in error.message


def test_several_mistakes_are_all_listed(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace("port = 5432", "port = 0").replace('"auth:latest"', "5"))
    error = fail(tmp_path)
    assert len(error.details) >= 1


def test_task_reports_config_error_without_traceback(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace('imgae = "x"', "").replace("[services.api]", "[services.api]\nimgae = 1"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIKD_")}
    done = subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(ROOT), "config.check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert "configuration error" in done.stderr and "imgae" in done.stderr
    assert "did you mean 'image'?" in done.stderr


def test_repository_clikd_toml_is_valid() -> None:
    loaded = load(ROOT, env={})
    assert set(loaded.settings.services) == {"auth", "api", "realtime", "media", "studio"}
    assert {db.kind for db in loaded.settings.databases.values()} == {"postgres", "scylla", "keydb", "s3"}
