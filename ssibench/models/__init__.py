"""Networks the benchmark needs beyond deepinv's (the reconstruction model itself is deepinv's MoDL)."""
