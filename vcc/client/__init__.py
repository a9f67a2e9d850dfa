"""Clients of a site's public gRPC API: bot agents, contact submitters, event watchers. Load
generators, drills, tests and the demo drive vcc through these only."""
