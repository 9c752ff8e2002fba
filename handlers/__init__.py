"""Channel-neutral conversation handlers: they take inbound events and return replies."""
