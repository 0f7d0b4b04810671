//! vipd's configuration: YAML with keepalived's keyword names and defaults, parsed, typed and validated with file:line:col errors.
pub mod ipsyntax;
pub mod model;
pub mod node;
