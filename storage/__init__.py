"""Adapters: everything that touches a database or the network."""
