"""The composition root: settings, app factory, CLI, pipeline, workers, HTTP API."""
