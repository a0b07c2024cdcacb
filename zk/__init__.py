"""ZooKeeper storage and domain layer of the gateway.

Everything here speaks ZooKeeper and plain Python; nothing here knows HTTP.
"""
