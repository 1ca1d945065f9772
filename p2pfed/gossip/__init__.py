"""The sans-I/O gossip protocol: averaging and delta links, neighbour liveness, the overlay graph, the algorithm cores."""
