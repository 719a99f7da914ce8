"""Stage 2, plan: federation design, bindings, CI rewrites and key retirement (pure)."""
