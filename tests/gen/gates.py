"""Compile gates: real compilers prove that generated API clients are valid code.

Each gate takes many client folders at once, so one compiler start covers all of them (CI gates about
25 generated clients per language), and reports per folder:

- :func:`typescript_check`: tsc 7 (``--noEmit --strict``) over each folder's ``.ts`` files, one program per
  folder, all in one ``tsc -b`` process.
- :func:`kotlin_compile`: K2JVMCompiler with the kotlinx-serialization plugin over every folder's ``.kt``
  files in one JVM, against kotlin-stdlib, kotlinx-serialization-json, kotlinx-coroutines and the Ktor 3
  client.
- :func:`swift_parse`: tree-sitter-swift parse of every ``.swift`` file (no Swift toolchain runs on Linux
  machines here); any ERROR or MISSING node fails.
- :func:`python_import`: imports a generated package (and its submodules) in a fresh interpreter.

The TypeScript and Kotlin toolchains come from ``tests/infra/toolchains/up``, cached under
:func:`toolchains_home`; a missing one raises :class:`ToolchainMissingError` (a RuntimeError naming the
script), so tests fail rather than skip.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.gen import verdicts

REPO = Path(__file__).resolve().parents[2]
TOOLCHAIN_MANIFESTS = REPO / "tests" / "infra" / "toolchains"
UP_SCRIPT = "tests/infra/toolchains/up"

#: Compiler options of the TypeScript gate. ``moduleResolution: bundler`` (with ``module: esnext``) is the
#: resolution of the code's real consumers (Vite, webpack, esbuild, Next) and accepts relative imports with
#: or without a ``.js`` extension; node16 would force ``.js`` on every relative import. ``lib`` has ``dom``
#: for ``fetch``/``URL``/``RequestInit``; no ``@types`` are loaded unless ``node_types=True``.
TS_COMPILER_OPTIONS: dict[str, object] = {
    "strict": True,
    "noEmit": True,
    "target": "es2022",
    "lib": ["es2022", "dom"],
    "module": "esnext",
    "moduleResolution": "bundler",
    "skipLibCheck": True,
    "forceConsistentCasingInFileNames": True,
}

#: JVM options of the one compiler JVM (a large stack for deeply nested generated expressions).
KOTLIN_JVM_OPTIONS = ["-Xss8m", "-Xmx3g", "-XX:+UseParallelGC", "-Djava.awt.headless=true"]
#: kotlinc options besides the class path, the plugin and the output folder.
KOTLIN_COMPILE_OPTIONS = ["-no-stdlib", "-no-reflect", "-jvm-target", "17"]
#: With the CDS archive: no JVM warnings about classes it could not share in the compiler's output.
KOTLIN_CDS_LOG = ["-Xlog:disable", "-Xlog:all=error:stderr"]


@dataclass
class GateResult:
    """``ok`` only when every folder passed. ``failures`` maps ``str(folder)`` (as the caller passed it) to
    that folder's diagnostics; ``output`` is the tools' whole output."""

    ok: bool
    output: str
    failures: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


class ToolchainMissingError(RuntimeError):
    """A compiler toolchain is not installed in the cache: run ``tests/infra/toolchains/up``."""


# --------------------------------------------------------------------------------------------- toolchains


def toolchains_home() -> Path:
    """``${CLIKD_TESTBED_HOME:-~/.cache/clikd-testbed}/toolchains``, where ``up`` caches the toolchains."""
    base = os.environ.get("CLIKD_TESTBED_HOME") or str(Path.home() / ".cache" / "clikd-testbed")
    return Path(base) / "toolchains"


def _sha10(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:10]


def _pom_property(pom: Path, name: str) -> str:
    match = re.search(rf"<{re.escape(name)}>([^<]+)</{re.escape(name)}>", pom.read_text())
    if not match:
        raise RuntimeError(f"no <{name}> in {pom}")
    return match.group(1).strip()


def _installed(kind: str, key: str, *needed: str) -> Path:
    """The toolchain folder ``toolchains_home()/kind/key``, complete, or a ToolchainMissingError."""
    folder = toolchains_home() / kind / key
    missing = [n for n in (".complete", *needed) if not (folder / n).exists()]
    if missing:
        raise ToolchainMissingError(
            f"the {kind} toolchain {key} is not installed in {folder} (missing: {', '.join(missing)}); "
            f"run `{UP_SCRIPT} {kind}` (it installs every gate toolchain when run without arguments)"
        )
    return folder


def typescript_toolchain() -> Path:
    """The folder holding ``node_modules/.bin/tsc`` of the pinned TypeScript."""
    manifest = TOOLCHAIN_MANIFESTS / "typescript"
    version = json.loads((manifest / "package.json").read_text())["devDependencies"]["typescript"]
    key = f"{version}-{_sha10(manifest / 'package-lock.json')}"
    return _installed("typescript", key, "node_modules/.bin/tsc")


@dataclass(frozen=True)
class KotlinToolchain:
    compiler: list[Path]  # java -cp: kotlin-compiler-embeddable and its runtime
    plugin: Path  # kotlin-serialization-compiler-plugin-embeddable
    libs: list[Path]  # kotlinc -cp: kotlin-stdlib, kotlinx-serialization, coroutines, Ktor client
    version: str
    cds: Path | None = None  # class-data-sharing archive of the compiler JVM, made by `up`


def kotlin_toolchain() -> KotlinToolchain:
    pom = TOOLCHAIN_MANIFESTS / "kotlin" / "pom.xml"
    version = _pom_property(pom, "kotlin.version")
    folder = _installed("kotlin", f"{version}-{_sha10(pom)}", "compiler", "plugin", "libs")
    plugins = sorted((folder / "plugin").glob("kotlin-serialization-compiler-plugin-embeddable-*.jar"))
    if not plugins:
        raise ToolchainMissingError(f"no serialization plugin jar in {folder / 'plugin'}; run `{UP_SCRIPT}`")
    return KotlinToolchain(
        compiler=sorted((folder / "compiler").glob("*.jar")),
        plugin=plugins[0],
        libs=sorted((folder / "libs").glob("*.jar")),
        version=version,
        cds=folder / "compiler.jsa" if (folder / "compiler.jsa").is_file() else None,
    )


def openapi_generator_jar() -> Path:
    """The runnable openapi-generator-cli jar (the peer generator of bench/gen/peer.py)."""
    pom = TOOLCHAIN_MANIFESTS / "openapi-generator" / "pom.xml"
    version = _pom_property(pom, "openapi-generator.version")
    folder = _installed("openapi-generator", f"{version}-{_sha10(pom)}", "openapi-generator-cli.jar")
    return folder / "openapi-generator-cli.jar"


# ------------------------------------------------------------------------------------------------ helpers


def _files(folder: Path, suffix: str) -> list[Path]:
    skip = {"node_modules", "build", ".gradle", ".build", "__pycache__"}
    found = (p for p in folder.rglob(f"*{suffix}") if p.is_file())
    return sorted(p for p in found if not skip.intersection(p.parts[len(folder.parts) :]))


def _owner(path: Path, roots: dict[Path, str]) -> str | None:
    """The caller's key of the folder (in ``roots``, resolved -> key) that holds ``path``."""
    best: tuple[int, str] | None = None
    for root, key in roots.items():
        if path == root or root in path.parents:
            depth = len(root.parts)
            if best is None or depth > best[0]:
                best = (depth, key)
    return best[1] if best else None


def _run(
    cmd: list[str], *, cwd: Path | None = None, timeout: float, env: dict[str, str] | None = None
) -> tuple[int, str]:
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        return 124, f"{out}\ntimed out after {timeout:.0f}s: {cmd[0]} ..."
    return proc.returncode, proc.stdout + proc.stderr


def _append(failures: dict[str, str], key: str, text: str) -> None:
    failures[key] = f"{failures[key]}\n{text}" if key in failures else text


def _keys(dirs: Iterable[Path]) -> dict[Path, str]:
    keys: dict[Path, str] = {}
    for d in dirs:
        resolved = Path(d).resolve()
        if resolved in keys:
            raise ValueError(f"folder given twice: {d}")
        keys[resolved] = str(d)
    return keys


# ------------------------------------------------------------------------------------------------- typescript

# "path(line,col): error TS2322: message"; continuation lines of a chained message are indented.
_TS_DIAG = re.compile(r"^(?P<file>.+?)\((?P<line>\d+),(?P<col>\d+)\): error (?P<code>TS\d+): ")
_TS_GLOBAL = re.compile(r"^error TS\d+: ")


def typescript_check(dirs: list[Path], *, node_types: bool = False, timeout: float = 900) -> GateResult:
    """``tsc --noEmit --strict`` over each folder's ``.ts`` files (options: :data:`TS_COMPILER_OPTIONS`).

    One generated tsconfig per folder, so each folder is its own program (two clients may export the same
    names), all referenced from one solution config and checked by a single ``tsc -b`` process. A folder
    with no ``.ts`` file fails (TS18003). ``node_types`` adds ``@types/node`` from the toolchain.
    """
    started = time.monotonic()
    tsc = typescript_toolchain() / "node_modules" / ".bin" / "tsc"
    keys = _keys(dirs)
    if not keys:
        return GateResult(ok=True, output="no folders", seconds=0.0)
    with tempfile.TemporaryDirectory(prefix="clikd-tsc-") as tmp_name:
        tmp = Path(tmp_name)
        config_owner: dict[Path, str] = {}
        references = []
        for index, (folder, key) in enumerate(keys.items()):
            options: dict[str, object] = dict(TS_COMPILER_OPTIONS)
            options["tsBuildInfoFile"] = str(tmp / f"p{index}.tsbuildinfo")
            if node_types:
                options["types"] = ["node"]
                options["typeRoots"] = [str(tsc.parents[1] / "@types")]
            else:
                options["types"] = []
            config = tmp / f"p{index}.tsconfig.json"
            config.write_text(
                json.dumps(
                    {
                        "compilerOptions": options,
                        "include": [f"{folder}/**/*.ts"],
                        "exclude": [f"{folder}/**/node_modules/**"],
                    },
                    indent=2,
                )
            )
            config_owner[config] = key
            references.append({"path": f"./{config.name}"})
        solution = tmp / "tsconfig.json"
        solution.write_text(json.dumps({"files": [], "references": references}, indent=2))
        code, output = _run([str(tsc), "-b", "--pretty", "false", str(solution)], cwd=tmp, timeout=timeout)
        failures, unattributed = _typescript_diagnostics(output, tmp, config_owner, keys)
    return _finish(code, output, failures=failures, unattributed=unattributed, keys=keys, started=started)


def _typescript_diagnostics(
    output: str, cwd: Path, config_owner: dict[Path, str], keys: dict[Path, str]
) -> tuple[dict[str, str], list[str]]:
    failures: dict[str, str] = {}
    unattributed: list[str] = []
    current: str | None = None  # the folder of the diagnostic being read
    for line in output.splitlines():
        match = _TS_DIAG.match(line)
        if match:
            where = Path(os.path.normpath(cwd / match["file"]))
            current = config_owner.get(where) or _owner(where, keys)
            shown = f"{where}{line[len(match['file']) :]}"  # absolute path, not relative to cwd
            if current is None:
                unattributed.append(shown)
            else:
                _append(failures, current, shown)
        elif line.startswith(" ") and current is not None:
            _append(failures, current, line)
        elif _TS_GLOBAL.match(line):
            # e.g. TS18003 "No inputs were found in config file '.../p3.tsconfig.json'"
            current = next((k for c, k in config_owner.items() if f"/{c.name}" in line), None)
            if current is None:
                unattributed.append(line)
            else:
                _append(failures, current, line)
        elif line.strip():
            current = None
    return failures, unattributed


def _finish(
    code: int,
    output: str,
    *,
    failures: dict[str, str],
    unattributed: list[str],
    keys: dict[Path, str],
    started: float,
) -> GateResult:
    """Never a false pass: a failed run whose errors map to no folder fails every folder."""
    if code != 0 and not failures:
        text = "\n".join(unattributed) or output.strip() or f"exit status {code}"
        failures = dict.fromkeys(keys.values(), text)
    elif unattributed:
        for key in keys.values():
            _append(failures, key, "\n".join(unattributed))
    return GateResult(
        ok=code == 0 and not failures, output=output, failures=failures, seconds=time.monotonic() - started
    )


# ------------------------------------------------------------------------------------------------- kotlin

_KT_PACKAGE = re.compile(r"^\s*package\s+([\w.`]+)", re.MULTILINE)
_KT_DIAG = re.compile(r"^(?P<file>.+?\.kts?):(?P<line>\d+):(?P<col>\d+): (?P<severity>error|warning|info): ")
_KT_GLOBAL = re.compile(r"^(error|exception|warning|info): ")


def _kotlin_packages(files: list[Path]) -> set[str]:
    packages = set()
    for f in files:
        match = _KT_PACKAGE.search(f.read_text(errors="replace"))
        packages.add(match.group(1).replace("`", "") if match else "<default package>")
    return packages


def kotlin_groups(sources: dict[Path, list[Path]]) -> list[list[Path]]:
    """Folders grouped so no two in a group declare the same package (one compile per group)."""
    groups: list[tuple[list[Path], set[str]]] = []
    for folder, files in sources.items():
        packages = _kotlin_packages(files)
        for members, taken in groups:
            if not taken & packages:
                members.append(folder)
                taken.update(packages)
                break
        else:
            groups.append(([folder], set(packages)))
    return [members for members, _ in groups]


def _argfile_quote(arg: str) -> str:
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _kotlinc(tc: KotlinToolchain, files: list[Path], tmp: Path, timeout: float) -> tuple[int, str]:
    """One compiler run over ``files``, or the kept pass of an earlier run over the same bytes."""
    root = Path(os.path.commonpath([f.parent for f in files])) if files else tmp
    java = shutil.which("java") or "java"
    tool = [
        tc.version,
        os.path.realpath(java),
        *KOTLIN_JVM_OPTIONS,
        *KOTLIN_COMPILE_OPTIONS,
        *(p.name for p in (*tc.compiler, tc.plugin, *tc.libs)),
    ]
    digest = verdicts.key("kotlinc", tool, files, root)
    kept = verdicts.recall("kotlinc", digest)
    if kept is not None:
        return 0, kept
    code, output = _kotlinc_run(tc, files, tmp, timeout)
    if code == 0:
        verdicts.keep("kotlinc", digest, output)
    return code, output


def _kotlinc_run(tc: KotlinToolchain, files: list[Path], tmp: Path, timeout: float) -> tuple[int, str]:
    out = Path(tempfile.mkdtemp(prefix="classes-", dir=tmp))
    argfile = out.with_suffix(".args")
    args = [
        *KOTLIN_COMPILE_OPTIONS,
        "-cp",
        os.pathsep.join(map(str, tc.libs)),
        f"-Xplugin={tc.plugin}",
        "-d",
        str(out),
        *map(str, files),
    ]
    argfile.write_text("\n".join(map(_argfile_quote, args)) + "\n")
    cds = [f"-XX:SharedArchiveFile={tc.cds}", "-Xshare:auto", *KOTLIN_CDS_LOG] if tc.cds else []
    cmd = [
        "java",
        *KOTLIN_JVM_OPTIONS,
        *cds,
        "-cp",
        os.pathsep.join(map(str, tc.compiler)),
        "org.jetbrains.kotlin.cli.jvm.K2JVMCompiler",
        f"@{argfile}",
    ]
    # kotlinc prints a path under its working directory relative to it: run in tmp, resolve from there.
    return _run(cmd, cwd=tmp, timeout=timeout)


def _kotlin_diagnostics(output: str, keys: dict[Path, str], cwd: Path) -> tuple[dict[str, str], list[str]]:
    """Error blocks (the diagnostic line, its source excerpt and caret) per folder; unattributed errors."""
    failures: dict[str, str] = {}
    unattributed: list[str] = []
    current: str | None = None  # the folder of the error block being read; None outside one
    in_global_error = False
    for line in output.splitlines():
        match = _KT_DIAG.match(line)
        if match:
            in_global_error = False
            where = Path(os.path.normpath(cwd / match["file"]))
            current = _owner(where, keys) if match["severity"] == "error" else None
            shown = f"{where}{line[len(match['file']) :]}"
            if match["severity"] == "error" and current is None:
                unattributed.append(shown)
            elif current is not None:
                _append(failures, current, shown)
        elif _KT_GLOBAL.match(line):
            current = None
            in_global_error = not line.startswith(("warning:", "info:"))
            if in_global_error:
                unattributed.append(line)
        elif current is not None:
            _append(failures, current, line)
        elif in_global_error:
            unattributed.append(line)
    return failures, unattributed


def _kotlin_group(
    tc: KotlinToolchain,
    sources: dict[Path, list[Path]],
    keys: dict[Path, str],
    tmp: Path,
    *,
    rounds: int,
    timeout: float,
    failures: dict[str, str],
    outputs: list[str],
) -> None:
    """Compile one package-disjoint group; after a failure, recompile the folders that got no error."""
    pending = list(sources)
    for _ in range(rounds):
        files = [f for folder in pending for f in sources[folder]]
        round_started = time.monotonic()
        code, output = _kotlinc(tc, files, tmp, timeout)
        names = ", ".join(keys[f] for f in pending)
        took = f"[kotlinc exit status {code} in {time.monotonic() - round_started:.1f}s]"
        outputs.append(f"$ kotlinc ({len(files)} files of {len(pending)} folders: {names})\n{output}{took}")
        if code == 0:
            return
        found, unattributed = _kotlin_diagnostics(output, {f: keys[f] for f in pending}, tmp)
        if not found:  # a crash, a bad classpath...: never a false pass
            text = "\n".join(unattributed) or output.strip() or f"kotlinc exit status {code}"
            for folder in pending:
                _append(failures, keys[folder], text)
            return
        for key, text in found.items():
            _append(failures, key, text + ("\n" + "\n".join(unattributed) if unattributed else ""))
        pending = [f for f in pending if keys[f] not in found]
        if not pending:
            return
    for folder in pending:
        _append(failures, keys[folder], "not confirmed: other folders' errors stopped the compile before it")


def kotlin_compile(dirs: list[Path], *, timeout: float = 1800, confirm: bool = True) -> GateResult:
    """Compile every folder's ``.kt`` files in one K2JVMCompiler run (per package-disjoint group).

    Each folder must use its own packages; folders whose packages clash go to separate compiles
    (:func:`kotlin_groups`). Errors are attributed to folders by file path. Since a frontend error anywhere
    stops the compiler before code generation, ``confirm`` recompiles the folders that got no error, in one
    more run, so a passing folder has passed a complete compile of its own.
    """
    started = time.monotonic()
    tc = kotlin_toolchain()
    keys = _keys(dirs)
    sources = {folder: _files(folder, ".kt") for folder in keys}
    failures: dict[str, str] = {}
    outputs: list[str] = []
    for folder, files in sources.items():
        if not files:
            failures[keys[folder]] = f"no .kt files in {folder}"
    with tempfile.TemporaryDirectory(prefix="clikd-kotlinc-") as tmp_name:
        tmp = Path(tmp_name)
        for group in kotlin_groups({f: s for f, s in sources.items() if s}):
            group_sources = {folder: sources[folder] for folder in group}
            _kotlin_group(
                tc,
                group_sources,
                keys,
                tmp,
                rounds=3 if confirm else 1,
                timeout=timeout,
                failures=failures,
                outputs=outputs,
            )
    return GateResult(
        ok=not failures, output="\n".join(outputs), failures=failures, seconds=time.monotonic() - started
    )


# -------------------------------------------------------------------------------------------------- swift


def _swift_parser() -> object:
    import tree_sitter
    import tree_sitter_swift

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))


def _syntax_problems(node: object) -> Iterator[object]:
    """ERROR and MISSING nodes under ``node``, visiting only subtrees that contain one."""
    stack = [node]
    while stack:
        current = stack.pop()
        if current.is_error or current.is_missing:  # type: ignore[attr-defined]
            yield current
            if current.is_missing:  # type: ignore[attr-defined]
                continue
        stack.extend(reversed([c for c in current.children if c.has_error or c.is_missing]))  # type: ignore[attr-defined]


def _grammar_gap(node: object, source: bytes) -> bool:
    """tree-sitter-swift 0.7.4 cannot parse the empty tuple expression ``()`` (``return ()``,
    ``() as! T``, ``completion(())``): it recovers with a zero-width ``bang`` holding a MISSING ``!``
    (tuple_expression > bang > MISSING "!"). Valid Swift, so exactly that shape is tolerated."""
    parent = node.parent  # type: ignore[attr-defined]
    tuple_ = parent.parent if parent is not None else None
    return bool(
        node.is_missing  # type: ignore[attr-defined]
        and node.type == "!"  # type: ignore[attr-defined]
        and parent.type == "bang"
        and tuple_ is not None
        and tuple_.type == "tuple_expression"
        and b"".join(source[tuple_.start_byte : tuple_.end_byte].split()) == b"()"
    )


def swift_parse(dirs: list[Path]) -> GateResult:
    """Parse every ``.swift`` file with tree-sitter-swift; any ERROR or MISSING node fails its folder,
    reported as ``file:line:col`` (1-based). A folder with no ``.swift`` file fails. The one known gap of
    the grammar, the empty tuple ``()`` (:func:`_grammar_gap`), is tolerated and counted in the output."""
    started = time.monotonic()
    parser = _swift_parser()
    keys = _keys(dirs)
    failures: dict[str, str] = {}
    lines: list[str] = []
    count = tolerated = 0
    for folder, key in keys.items():
        files = _files(folder, ".swift")
        if not files:
            failures[key] = f"no .swift files in {folder}"
            continue
        for path in files:
            count += 1
            source = path.read_bytes()
            tree = parser.parse(source)  # type: ignore[attr-defined]
            if not tree.root_node.has_error:
                continue
            for node in _syntax_problems(tree.root_node):
                if _grammar_gap(node, source):
                    tolerated += 1
                    continue
                row, col = node.start_point  # type: ignore[attr-defined]
                if node.is_missing:  # type: ignore[attr-defined]
                    what = f"MISSING {node.type}"  # type: ignore[attr-defined]
                else:
                    text = source[node.start_byte : node.end_byte].decode(errors="replace")  # type: ignore[attr-defined]
                    snippet = " ".join(text.split())
                    what = f"ERROR near {snippet[:60]!r}"
                line = f"{path}:{row + 1}:{col + 1}: {what}"
                lines.append(line)
                _append(failures, key, line)
    lines.append(f"parsed {count} .swift files in {len(keys)} folders")
    if tolerated:
        lines.append(f"tolerated {tolerated} empty tuple expressions `()` (a tree-sitter-swift gap)")
    return GateResult(
        ok=not failures, output="\n".join(lines), failures=failures, seconds=time.monotonic() - started
    )


# ------------------------------------------------------------------------------------------------- python

_IMPORT_ALL = """
import importlib, pkgutil, sys
name, walk = sys.argv[1], sys.argv[2] == "1"
module = importlib.import_module(name)
count = 1
if walk and hasattr(module, "__path__"):
    for info in pkgutil.walk_packages(module.__path__, name + "."):
        importlib.import_module(info.name)
        count += 1
print(f"imported {count} modules of {name}")
"""


def venv_python() -> str:
    candidate = REPO / ".venv" / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


def python_import(dir: Path, module: str, *, submodules: bool = True, timeout: float = 300) -> GateResult:
    """Import ``module`` (and, with ``submodules``, every module under it) in a fresh venv interpreter
    whose PYTHONPATH is ``dir`` alone."""
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"}}
    env["PYTHONPATH"] = str(Path(dir).resolve())
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    with tempfile.TemporaryDirectory(prefix="clikd-pyimport-") as cwd:
        code, output = _run(
            [venv_python(), "-c", _IMPORT_ALL, module, "1" if submodules else "0"],
            cwd=Path(cwd),
            env=env,
            timeout=timeout,
        )
    failures = {} if code == 0 else {str(dir): output.strip() or f"exit status {code}"}
    return GateResult(ok=code == 0, output=output, failures=failures, seconds=time.monotonic() - started)
