//! The zones in service as one snapshot: zones, their signers and the index that finds the
//! zone of a name.

pub mod signers;
