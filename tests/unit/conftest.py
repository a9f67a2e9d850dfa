"""Unit tests exercise the sans-IO core and config: they must never start Ray or etcd."""
