"""`python -m mfakit`: the `mfakit` operator command (`pip install 'mfakit[cli]'`)."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    main()
