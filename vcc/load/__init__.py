"""Load generation for a running cluster: scenarios (YAML), arrival and duration sampling (sans-IO),
the runner that drives sites through their public gRPC API, and the summary of what happened."""
