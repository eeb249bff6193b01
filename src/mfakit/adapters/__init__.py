"""Adapters: implementations of the ports. ``memory`` ships with the core;
others arrive behind extras (``mfakit[sql]``, ...) and are imported only when
you import them."""

from .memory import MemoryStore as MemoryStore

__all__ = ["MemoryStore"]
