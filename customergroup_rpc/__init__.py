"""customergroup-rpc: a JSON-RPC 2.0 service for customer groups."""

__version__ = "0.1.0"
