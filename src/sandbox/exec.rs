//! (being written: exec in a sandbox)
