"""Failover drills on a running cluster (``vcc drill``) and the pieces the failover bench shares:
reading the sites' event logs as they grow, finding the etcd leader, free port blocks, and the
sans-IO measures of a drill (detection, adoption, re-homing, contacts lost or doubled, double booking)."""
