"""env.standin: the local stand-in platform, for a first run without access to the Clikd registry.

Builds, on the local Docker engine, the images the test bed plays the platform with, under tags of
their own (``clikd-standin/…`` by default):

- ``base:bookworm-1``: a minimal Debian bookworm made with debootstrap and imported (the test bed's
  base, plus a Java 17 runtime for the CQL role);
- ``postgres:15`` and ``keydb:6``: the test bed's recipes (tests/infra/images/*), built FROM that base;
- ``cql:<version>``: Apache Cassandra playing ScyllaDB, its jars resolved once with Maven on this
  machine (tests/infra/cassandra/pom.xml), its configuration the test bed's, in a container;
- ``seaweedfs:<version>`` (when the project has an object store): SeaweedFS's ``weed``, built from
  the Go module proxy (seaweedfs.py), in the test bed's recipe;
- ``service:1``: the reference service (tests/infra/refservice) with the project's OpenAPI document,
  tagged once per service as ``<service>:latest``.

Then it writes the configuration layer that points the stack at those images with ``pull = "never"``:
``<config stem>.local.toml`` beside the config in use (``clikd.local.toml`` normally), so the next
``env.start`` starts the stand-in stack. No registry is involved: nothing is pulled. Every step
reports progress through ``on_event``. An image already present is kept when it was built from the
same recipe files and base, the base from the same package list (a fingerprint in its labels);
``rebuild`` builds everything again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from tasks.core.errors import Unavailable
from tasks.core.stack.model import EventSink, StepEvent
from tasks.core.standin.builder import Builder
from tasks.core.standin.model import (
    DEFAULT_PREFIX,
    MARKER,
    STANDIN_OPERATIONS,
    StandinFailed,
    StandinOptions,
    StandinResult,
    StandinStep,
)
from tasks.core.standin.recipes import (
    BASE_PACKAGES,
    RECIPE_FILES,
    base_fingerprint,
    cache_dir,
    cassandra_version,
    check_layer_is_ours,
    fingerprint,
    layer_path,
    recipe_root,
    render_layer,
    tags,
)

if TYPE_CHECKING:
    from tasks.core.config.loader import LoadedConfig

__all__ = [
    "BASE_PACKAGES",
    "DEFAULT_PREFIX",
    "MARKER",
    "RECIPE_FILES",
    "STANDIN_OPERATIONS",
    "StandinFailed",
    "StandinOptions",
    "StandinResult",
    "StandinStep",
    "base_fingerprint",
    "build",
    "check_layer_is_ours",
    "fingerprint",
    "layer_path",
    "render_layer",
    "tags",
]


def object_store(config: LoadedConfig) -> str:
    """The name of the project's object store that clikd runs in a container, or ""."""
    return next(
        (n for n, db in config.settings.databases.items() if db.kind == "s3" and db.mode == "container"), ""
    )


def build(
    config: LoadedConfig,
    options: StandinOptions,
    *,
    on_event: EventSink,
) -> StandinResult:
    """Build the stand-in images (those missing, or all with ``rebuild``) and write the config layer."""
    from tasks.core.stack.engine import connect

    began = time.monotonic()
    root = config.root
    if not (recipe_root(root) / "images").is_dir():
        raise Unavailable(
            f"the stand-in recipes are missing ({recipe_root(root) / 'images'})",
            hint="run env.standin from a checkout of the clikd repository",
        )
    layer = layer_path(config)
    check_layer_is_ours(layer)
    services = [name for name, svc in config.settings.services.items() if svc.enabled]
    version = cassandra_version(root)
    images = tags(options.prefix, version, services)
    cache = cache_dir(options)
    cache.mkdir(parents=True, exist_ok=True)
    on_event(StepEvent("engine", "engine: connecting"))
    # long silent steps (importing the root file system, initdb in a build) outlast the usual 60 s
    client = connect(timeout=900)
    version_info: dict[str, Any] = client.api.version()
    on_event(StepEvent("engine", f"engine: Docker {version_info.get('Version', '?')}", done=True))

    b = Builder(client, root, cache, images, on_event, options.rebuild)
    b.recipes = {"base": base_fingerprint()}
    b.step("base", "base", b.base)
    rebuilt_base = b.steps[-1].action == "built"
    base_id = str(client.api.inspect_image(images["base"])["Id"])
    b.recipes.update({role: fingerprint(root, role, base_id) for role in RECIPE_FILES})
    infra = recipe_root(root) / "images"
    b.step("postgres", "postgres", lambda: b.build("postgres", infra / "postgres"), force=rebuilt_base)
    b.step("keydb", "keydb", lambda: b.build("keydb", infra / "keydb"), force=rebuilt_base)
    b.step("cql", "cql", lambda: b.build("cql", b.cql_context(version)), force=rebuilt_base)
    s3 = object_store(config)
    if s3:
        from tasks.core.standin import seaweedfs

        weed = seaweedfs.module_version(root)
        images["s3"] = seaweedfs.image_tag(options.prefix, weed)
        b.step("s3", "s3", lambda: b.build("s3", seaweedfs.context(b, weed)), force=rebuilt_base)
    b.step("service", "service", lambda: b.build("service", b.service_context()), force=rebuilt_base)
    b.tag_services(services)

    tested = {
        name: list(svc.test.operations)
        for name, svc in config.settings.services.items()
        if name in services and svc.test is not None and svc.test.openapi
    }
    text = render_layer(images, services, prefix=options.prefix, contract_tested=tested, s3=s3)
    layer.write_text(text, encoding="utf-8")
    on_event(StepEvent("config", f"config: wrote {layer.name}", done=True))
    return StandinResult(
        prefix=options.prefix,
        config_layer=str(layer),
        images=images,
        steps=b.steps,
        seconds=round(time.monotonic() - began, 1),
    )
