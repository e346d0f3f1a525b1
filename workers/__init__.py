"""RQ jobs and the worker that runs them, each job in its own app context."""
