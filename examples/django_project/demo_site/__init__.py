"""mfakit's example Django project: a small practice where staff must use
two-step verification and clients may (see ``README.md`` next to it)."""
