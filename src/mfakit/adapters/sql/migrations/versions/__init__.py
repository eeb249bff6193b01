"""Revision scripts, one per schema version (`0001_...` is mfakit 0.1.0's)."""
