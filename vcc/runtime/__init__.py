"""The site runtime: processes (etcd members, Ray heads) and the Ray actors that wrap the core."""
