def connect_signals() -> None:
    pass
