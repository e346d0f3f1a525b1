"""Domain operations. Each owns its transaction and is called by webhooks, API, admin, CLI and jobs."""
