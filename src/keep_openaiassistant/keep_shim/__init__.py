"""Keep discovery shim (placeholder)."""
