"""The shape every swarmscope service shares: settings, NATS, consumer loop, request-reply, HTTP."""
