"""Channel adapters: each translates one platform to and from neutral messages."""
