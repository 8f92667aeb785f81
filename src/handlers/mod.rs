//! Request handlers, one file per endpoint family; `router` decides which one answers.

pub mod control;
pub mod echo;
pub mod probes;
