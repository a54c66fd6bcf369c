"""clikd.toml: the typed settings (:mod:`.schema`) and how they are layered and checked (:mod:`.loader`)."""
