"""Web layer: FastAPI app (JSON API under /api/, authentication, error mapping)."""
