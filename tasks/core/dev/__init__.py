"""env.dev: run a service from its source in the branch's stack, with live update."""
