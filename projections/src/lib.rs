//! Read models built from event envelopes. Filled in by the domain issue.
