"""Policies over the network: openpi-compatible websocket + msgpack-numpy client and server."""
