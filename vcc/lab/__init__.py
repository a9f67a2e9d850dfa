"""The failover lab: sites in network namespaces on one machine, so a drill or a test can cut a site's
network (a partition) instead of killing its processes."""
