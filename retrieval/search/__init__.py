"""Search: a Query -> ranked Passages, from named signals fused by one fusion."""
