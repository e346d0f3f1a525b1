"""Domain operations. Each owns its transaction; webhooks, API, admin, CLI and jobs call them."""
