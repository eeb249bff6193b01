"""Adapters: implementations of the ports. `memory`, `outbox` and
`console` ship with the core; `smtp` uses only the standard library; others
arrive behind extras (`mfakit[sql]`; the delivery providers `twilio`,
`aws` and `vonage` behind extras of the same names) and are imported only
when you import them."""

from .audit import LoggingAuditSink as LoggingAuditSink
from .audit import MemoryAuditLog as MemoryAuditLog
from .console import ConsoleSender as ConsoleSender
from .memory import MemoryStore as MemoryStore
from .outbox import Outbox as Outbox
from .outbox import SentMessage as SentMessage

__all__ = [
    "ConsoleSender",
    "LoggingAuditSink",
    "MemoryAuditLog",
    "MemoryStore",
    "Outbox",
    "SentMessage",
]
