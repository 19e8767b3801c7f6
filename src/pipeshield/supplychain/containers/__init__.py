"""Containers: archives and compression wrappers, parsed as the loaders that matter read them."""
