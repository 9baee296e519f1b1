"""Channel adapters: each module parses inbound payloads, verifies signatures and delivers replies."""
