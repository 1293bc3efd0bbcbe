"""The registry client side (issue 17): what `roar register` sends to a GLaaS server.

It talks to the server only over HTTP and never imports ``glaas``; the bundle it builds is the
versioned schema in docs/registry-api.md.
"""
