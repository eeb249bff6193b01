"""The pure domain of mfakit.

Nothing in this package performs I/O, reads the clock, draws randomness or
imports from `mfakit.ports`, `mfakit.service` or `mfakit.adapters`: time
and random bytes arrive as arguments, decisions leave as values.
"""
