"""The sans-IO contact-center core: plain Python, no Ray, etcd, sockets or clock reads.

Every function that needs the time takes ``now`` (seconds since the epoch, float) from its caller.
"""
