"""Use cases shared by the SOAP services, the HTTP frontend and the jobs."""
