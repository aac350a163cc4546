//! The embedded authorization server, wire-compatible with authserver 0.2.2 on every path the
//! verify flow touches (being built).
