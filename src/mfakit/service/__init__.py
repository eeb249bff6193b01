"""Use cases: the pure core plus port calls, written once as generators of
effects (see `mfakit.service.effects`) and run by the sync and async
facades."""
