"""Background tasks on procrastinate: a job is just another entrypoint to the service layer."""
