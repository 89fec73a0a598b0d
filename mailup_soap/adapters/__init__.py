"""Production implementations of the service layer's ports."""
