//! What the request itself says ([`Request`]), and the reference data it is compared with: the
//! languages spoken in each country (CLDR) and the countries of each time zone (tzdb),
//! both generated from their sources by `tools/request-data/generate.py` and compiled
//! into the binary. A part of its own: it imports only the config's types.

pub mod accept_language;
pub mod fields;
pub mod ident;
pub mod json;
pub mod languages;
pub mod request;
pub mod timezones;

pub use request::{Request, Watched};
