//! `tinygpt serve`: a small static file server for the page (native only). It serves one
//! directory over HTTP/1.1 GET, with the right MIME types (application/wasm for the module) and
//! the page's Content-Security-Policy on every response; nothing else.

use crate::error::{Error, Result};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};

/// No inline scripts, no foreign origins; wasm compilation allowed.
pub const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; \
connect-src 'self'; style-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; \
form-action 'none'; frame-ancestors 'none'";

fn mime(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// Maps a request path to a file under `root`, refusing anything that climbs out of it.
pub fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let path = url_path.split(['?', '#']).next().unwrap_or("/");
    let mut out = root.to_path_buf();
    for c in Path::new(path.trim_start_matches('/')).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if out.is_dir() {
        out.push("index.html");
    }
    out.is_file().then_some(out)
}

fn respond(mut s: TcpStream, root: &Path) -> std::io::Result<()> {
    let mut line = String::new();
    let mut reader = BufReader::new(s.try_clone()?);
    reader.read_line(&mut line)?;
    // drain the headers
    let mut h = String::new();
    while reader.read_line(&mut h)? > 2 {
        h.clear();
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let head_only = method == "HEAD";
    let (status, body, ctype) = if method != "GET" && !head_only {
        ("405 Method Not Allowed", b"only GET".to_vec(), "text/plain")
    } else {
        match resolve(root, target).and_then(|p| std::fs::read(&p).ok().map(|b| (b, mime(&p)))) {
            Some((b, m)) => ("200 OK", b, m),
            None => ("404 Not Found", b"not found".to_vec(), "text/plain"),
        }
    };
    write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nContent-Security-Policy: {CSP}\r\n\
         X-Content-Type-Options: nosniff\r\nCross-Origin-Opener-Policy: same-origin\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if !head_only {
        s.write_all(&body)?;
    }
    s.flush()
}

/// Serves `root` on `addr` until the process is stopped (Ctrl-C).
pub fn serve(root: &Path, addr: &str) -> Result<()> {
    if !root.join("index.html").is_file() {
        return Err(Error::Io(format!("{} has no index.html to serve", root.display())));
    }
    let listener = TcpListener::bind(addr).map_err(|e| Error::Io(format!("cannot listen on {addr}: {e}")))?;
    println!("tinygpt: serving {} at http://{addr}/ (Ctrl-C stops)", root.display());
    for conn in listener.incoming().flatten() {
        let root = root.to_path_buf();
        std::thread::spawn(move || {
            let _ = respond(conn, &root);
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_stays_inside_root() {
        let root = std::env::temp_dir().join(format!("tinygpt-serve-{}", std::process::id()));
        std::fs::create_dir_all(root.join("js")).unwrap();
        std::fs::write(root.join("index.html"), "hi").unwrap();
        std::fs::write(root.join("js/app.js"), "x").unwrap();
        assert_eq!(resolve(&root, "/"), Some(root.join("index.html")));
        assert_eq!(resolve(&root, "/js/app.js?v=1"), Some(root.join("js/app.js")));
        assert_eq!(resolve(&root, "/../etc/passwd"), None);
        assert_eq!(resolve(&root, "/js/../../x"), None);
        assert_eq!(resolve(&root, "/nope.js"), None);
        assert_eq!(mime(Path::new("a.wasm")), "application/wasm");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
