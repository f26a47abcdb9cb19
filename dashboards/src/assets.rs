//! The embedded assets: the stylesheet and htmx. Served under `/assets/` with the version
//! in the name, so they can be cached for a year and change with every release.

/// One embedded file.
#[derive(Clone, Copy, Debug)]
pub struct Asset {
    /// The path the pages link to, e.g. `/assets/vigil-3f2a9c1d.css`.
    pub path: &'static str,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The bytes.
    pub body: &'static [u8],
}

/// The stylesheet: the pages' (`vigil.css`) then the charts' (`chart.css`).
pub const STYLE: Asset = Asset {
    path: concat!("/assets/vigil-", env!("CARGO_PKG_VERSION"), ".css"),
    content_type: "text/css; charset=utf-8",
    body: concat!(
        include_str!("assets/vigil.css"),
        include_str!("assets/chart.css")
    )
    .as_bytes(),
};

/// htmx 2.0.11 (Zero-Clause BSD, `src/assets/htmx.LICENSE`).
pub const HTMX: Asset = Asset {
    path: "/assets/htmx-2.0.11.min.js",
    content_type: "text/javascript; charset=utf-8",
    body: include_bytes!("assets/htmx.min.js"),
};

/// Every embedded asset.
pub const ALL: [Asset; 2] = [STYLE, HTMX];

/// The asset served at `path`, if any.
pub fn find(path: &str) -> Option<Asset> {
    ALL.into_iter().find(|a| a.path == path)
}
