"""A package whose top level imports, but one submodule does not."""
