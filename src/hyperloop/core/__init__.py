"""The domain: rules of SPEC §1-§5 as functions over a database session (no HTTP, no engine)."""
