"""The spyne edge: one module per service, shared types, faults, the WSGI mount."""
