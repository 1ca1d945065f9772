"""p2pfed: decentralized peer-to-peer federated learning with encrypted, signed gossip."""

__version__ = "0.1.0"
