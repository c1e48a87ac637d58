//! (being written: the openclaw sandbox commands)
