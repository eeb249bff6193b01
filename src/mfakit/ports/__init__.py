"""Ports: the small `typing.Protocol` interfaces through which the use cases
reach the outside world (storage, clock). Adapters implement them."""
