"""Device health scores: factors, the scheduler job's SQL, and the REST view of them."""
