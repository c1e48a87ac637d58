//! (being written: sandbox tool policy)
