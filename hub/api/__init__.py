"""The HTTP surface: staff API (v1), channel webhooks and operations endpoints."""
