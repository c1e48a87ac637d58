//! The Control UI's files, embedded at build time: a fixed table from URL
//! path (below `gateway.controlUi.basePath`) to bytes. Nothing is read from
//! disk at run time and no URL is ever turned into a file path.

pub struct Asset {
    pub content_type: &'static str,
    pub body: &'static [u8],
}

const INDEX: Asset = Asset { content_type: "text/html; charset=utf-8", body: include_bytes!("../../ui/index.html") };
const JS: Asset = Asset { content_type: "text/javascript; charset=utf-8", body: include_bytes!("../../ui/app.js") };
const CSS: Asset = Asset { content_type: "text/css; charset=utf-8", body: include_bytes!("../../ui/app.css") };

/// The asset for a path relative to the base path (`/`, `/app.js`, …).
pub fn asset(path: &str) -> Option<&'static Asset> {
    match path {
        "/" | "/index.html" => Some(&INDEX),
        "/app.js" => Some(&JS),
        "/app.css" => Some(&CSS),
        _ => None,
    }
}
