"""The branch stack on Docker: what should run (spec), what runs (engine), and making them agree.

Modules, lightest first:

- :mod:`.model`: the dataclasses every operation returns and the events it reports while it works;
- :mod:`.spec`: the desired stack of a branch, resolved from settings (environment templating,
  labels, config hash) without touching Docker;
- :mod:`.plan`: the difference between desired and actual as data (create, recreate, start, keep);
- :mod:`.engine`, :mod:`.registry`, :mod:`.pull`, :mod:`.holders`, :mod:`.probes`, :mod:`.cql`,
  :mod:`.provision`: the parts that talk to Docker, the registry and the databases;
- :mod:`.converge` (start), :mod:`.teardown` (stop), :mod:`.status`, :mod:`.logs`, :mod:`.inventory`
  (list and prune): the operations behind ``env.*``;
- :mod:`.views`: how their results look to a person.

Nothing here prints: operations take an ``on_event`` callback and return dataclasses.
"""
