"""The pieces of tools/bench/run: services (the processes it starts), measure (one
function per measurement), report (table, JSON, docs, chart)."""
