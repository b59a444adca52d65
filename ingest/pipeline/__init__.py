"""The one ingest pipeline: every source event, whatever brought it, becomes a write batch here.

`events` holds the core types (Event, Rejected, Rejection, Unreadable); `prepare` owns the step from
an event to a batch (normalise, redact, keep the raw document, canonical keys, identities,
storability); `feed` batches prepared events for a writer and reports what happened. File ingest,
the normalising child process, the inbox worker, git ingest and the collectors only drive it.
"""
