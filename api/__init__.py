"""Staff HTTP API and web console (FastAPI)."""
