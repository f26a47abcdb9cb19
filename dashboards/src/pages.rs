//! One module per page. (Being written.)
