"""Integrations of mfakit with web frameworks, each behind its own extra.

Nothing here is imported by `import mfakit`; each subpackage imports its
framework itself (`mfakit.integrations.django` needs `mfakit[django]`).
"""
