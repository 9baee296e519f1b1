"""The domain: records, repositories and services. Knows MongoDB, not HTTP or channel SDKs."""
