"""OCPP knowledge the router, the balancer and the simulated garage share: what the protocol
means, as pure functions without I/O. It imports none of them."""
