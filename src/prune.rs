//! (being written: the prune thread)
