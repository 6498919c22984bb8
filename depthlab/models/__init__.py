"""Model definitions, one module per paper."""
