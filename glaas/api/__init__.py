"""HTTP routes, thin: parse, call the service, map its errors to status codes."""
