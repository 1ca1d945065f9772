"""Bytes ⇄ verified messages: the codec, keys and crypto, the sealed envelope, sequence numbers and replay windows."""
