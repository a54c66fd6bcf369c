"""clikd test: contract tests from the OpenAPI spec, each service's own suite, records per branch."""
