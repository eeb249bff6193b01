"""A minimal FastAPI integration of mfakit on :class:`mfakit.AsyncMFA`."""
