//! Domain rules as given / when / then: given these events, when this command, then these events or these
//! faults. One test binary with a module per area; `support` holds the scenario helper and the test programme.

mod activities;
mod arbitrary_input;
mod direct_json;
mod event_codec;
mod iati_settings;
mod lifecycle;
mod programme_rules;
mod seeds;
mod stored_decode;
mod support;
