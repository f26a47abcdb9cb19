//! SVG charts, drawn as text. (Being written.)
