"""The gRPC edge of a site: the site API (customers' contacts, agents, load, status) and the
site-to-site service. Protobuf types stop here: ``convert`` turns them into plain values."""
