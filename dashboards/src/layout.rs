//! The frame every page shares. (Being written.)
