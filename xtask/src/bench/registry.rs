//! A loopback OCI registry for the image and release benchmarks, and a counting proxy in front of
//! it that measures what clients upload.
//!
//! The registry is Debian's `docker-registry` (installed by `cargo xtask setup`), started as the
//! end-to-end tests start it (`tests/src/registry.rs`; xtask cannot use the tests crate): a config
//! file in a directory of our own, filesystem storage, the access log on stdout. [`Registry::restart`]
//! stops it, empties its storage and starts it again on the same port, so every measured push
//! uploads everything while references (which contain the port) stay valid.
//!
//! [`CountingProxy`] forwards TCP connections to the registry and reads the HTTP/1.1 framing of
//! what clients send (request line, headers, `Content-Length` or chunked bodies) to count the body
//! bytes of blob uploads (`POST`/`PUT`/`PATCH` under `/blobs/uploads/`). Written by hand because
//! xtask depends on std, anyhow and serde_json only (so it builds in seconds on a fresh machine),
//! and the framing of a request stream is all it needs: responses pass through untouched.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The registry binary Debian's `docker-registry` package installs.
const REGISTRY_BIN: &str = "docker-registry";

/// A running registry; stopped on drop.
pub struct Registry {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Registry {
    /// Starts a registry with empty storage under `dir` on a free loopback port.
    pub fn start(dir: &Path) -> Result<Registry> {
        let port = free_port()?;
        let mut registry = Registry {
            child: None,
            port,
            dir: dir.to_path_buf(),
        };
        registry.restart()?;
        Ok(registry)
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the registry (if running), deletes its storage and starts it again on the same port.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        let storage = self.dir.join("storage");
        if storage.exists() {
            std::fs::remove_dir_all(&storage)
                .with_context(|| format!("could not remove {}", storage.display()))?;
        }
        std::fs::create_dir_all(&storage)
            .with_context(|| format!("could not create {}", storage.display()))?;
        let config = self.dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\n  formatter: text\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: 127.0.0.1:{}\n  secret: forge-bench-http-secret\n",
                storage.display(),
                self.port
            ),
        )
        .with_context(|| format!("could not write {}", config.display()))?;
        let access = std::fs::File::create(self.dir.join("access.log"))
            .context("could not create the registry access log")?;
        let errors = std::fs::File::create(self.dir.join("registry.log"))
            .context("could not create the registry log")?;
        let mut child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(access)
            .stderr(errors)
            .spawn()
            .context("could not start `docker-registry` (run `cargo xtask setup --only debian`)")?;
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                bail!(
                    "docker-registry exited ({status}) right after starting on port {}:\n{}",
                    self.port,
                    std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
                );
            }
            if http_ok(&self.host(), "/v2/") {
                self.child = Some(child);
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        bail!(
            "docker-registry did not answer on {} within 15 s (see {})",
            self.host(),
            self.dir.join("registry.log").display()
        )
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Requests in the access log so far: `(method, path)` of each.
    pub fn requests(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default();
        text.lines().filter_map(parse_access_line).collect()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `(method, path)` of a combined-log line: `… "PUT /v2/x/blobs/uploads/… HTTP/1.1" 201 …`.
fn parse_access_line(line: &str) -> Option<(String, String)> {
    let start = line.find('"')?;
    let rest = &line[start + 1..];
    let request = &rest[..rest.find('"')?];
    let mut words = request.split_whitespace();
    let method = words.next()?;
    let path = words.next()?;
    words.next().filter(|v| v.starts_with("HTTP/"))?;
    Some((method.to_owned(), path.to_owned()))
}

/// Whether a request sends blob bytes.
pub fn is_blob_upload(method: &str, path: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH") && path.contains("/blobs/uploads/")
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("could not find a free loopback port")?
        .port())
}

/// A plain `GET` answered with any 2xx or 401 (a registry that is up).
fn http_ok(host: &str, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(host) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && (head[9] == b'2' || head.starts_with(b"HTTP/1.1 401"))
}

/// What a [`CountingProxy`] has seen since it started (or since [`CountingProxy::reset`]).
#[derive(Default)]
struct Counters {
    /// Body bytes of blob upload requests.
    blob_bytes: AtomicU64,
    /// Blob upload requests that carried a body.
    blob_requests: AtomicU64,
    /// Every byte clients sent (request lines, headers and bodies).
    request_bytes: AtomicU64,
    requests: AtomicU64,
    /// A request stream the proxy could not frame (then it only copies bytes).
    unframed: AtomicBool,
}

/// A TCP proxy on a free loopback port in front of `upstream`, counting uploads; stops
/// accepting when dropped.
pub struct CountingProxy {
    port: u16,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
}

/// Upload counts since the last reset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Uploaded {
    pub blob_bytes: u64,
    pub blob_requests: u64,
    pub request_bytes: u64,
    pub requests: u64,
    /// `false` when some request could not be framed: `blob_bytes` is then a lower bound.
    pub exact: bool,
}

impl CountingProxy {
    pub fn start(upstream: String) -> Result<CountingProxy> {
        let listener =
            TcpListener::bind("127.0.0.1:0").context("could not bind the counting proxy")?;
        let port = listener.local_addr()?.port();
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (counters.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let counters = c.clone();
                std::thread::spawn(move || relay(client, server, &counters));
            }
        });
        Ok(CountingProxy {
            port,
            counters,
            stop,
        })
    }

    /// `127.0.0.1:PORT` of the proxy.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The counts so far, then zeroes them. Waits 50 ms first: a relay counts a request right
    /// after forwarding its last byte, which can be just after the client got the answer.
    pub fn take(&self) -> Uploaded {
        std::thread::sleep(Duration::from_millis(50));
        let c = &self.counters;
        Uploaded {
            blob_bytes: c.blob_bytes.swap(0, Ordering::SeqCst),
            blob_requests: c.blob_requests.swap(0, Ordering::SeqCst),
            request_bytes: c.request_bytes.swap(0, Ordering::SeqCst),
            requests: c.requests.swap(0, Ordering::SeqCst),
            exact: !c.unframed.swap(false, Ordering::SeqCst),
        }
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Copies server → client as is, and client → server request by request, counting.
fn relay(client: TcpStream, server: TcpStream, counters: &Counters) {
    let (Ok(mut server_read), Ok(mut client_write)) = (server.try_clone(), client.try_clone())
    else {
        return;
    };
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut server_read, &mut client_write);
        let _ = client_write.shutdown(Shutdown::Both);
    });
    let mut reader = BufReader::with_capacity(256 * 1024, client);
    let mut upstream = server;
    loop {
        match forward_request(&mut reader, &mut upstream, counters) {
            Ok(true) => {}
            Ok(false) => break,
            Err(_) => {
                counters.unframed.store(true, Ordering::Relaxed);
                let _ = std::io::copy(&mut reader, &mut upstream);
                break;
            }
        }
    }
    let _ = upstream.shutdown(Shutdown::Write);
    let _ = back.join();
}

/// Forwards one request; `Ok(false)` at the end of the stream.
fn forward_request(
    reader: &mut BufReader<TcpStream>,
    upstream: &mut TcpStream,
    counters: &Counters,
) -> std::io::Result<bool> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let mut head = Vec::new();
    let mut line = String::new();
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut request_line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            if head.is_empty() {
                return Ok(false);
            }
            return Err(bad("request cut off in its headers"));
        }
        head.extend_from_slice(line.as_bytes());
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if request_line.is_empty() {
            if trimmed.is_empty() {
                continue; // stray CRLF between requests
            }
            request_line = trimmed.to_owned();
            continue;
        }
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = Some(value.parse().map_err(|_| bad("bad content-length"))?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            }
        }
    }
    upstream.write_all(&head)?;
    let mut words = request_line.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let mut body: u64 = 0;
    if chunked {
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Err(bad("chunked body cut off"));
            }
            upstream.write_all(line.as_bytes())?;
            let size_text = line.trim_end_matches(['\r', '\n']);
            let size_text = size_text.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size"))?;
            counters
                .request_bytes
                .fetch_add(line.len() as u64, Ordering::Relaxed);
            if size == 0 {
                // Trailers, up to an empty line.
                loop {
                    line.clear();
                    if reader.read_line(&mut line)? == 0 {
                        return Err(bad("chunked trailer cut off"));
                    }
                    upstream.write_all(line.as_bytes())?;
                    counters
                        .request_bytes
                        .fetch_add(line.len() as u64, Ordering::Relaxed);
                    if line.trim_end_matches(['\r', '\n']).is_empty() {
                        break;
                    }
                }
                break;
            }
            copy_exact(reader, upstream, size + 2)?; // data + CRLF
            body += size;
            counters
                .request_bytes
                .fetch_add(size + 2, Ordering::Relaxed);
        }
    } else if let Some(n) = content_length {
        copy_exact(reader, upstream, n)?;
        body = n;
        counters.request_bytes.fetch_add(n, Ordering::Relaxed);
    }
    counters
        .request_bytes
        .fetch_add(head.len() as u64, Ordering::Relaxed);
    counters.requests.fetch_add(1, Ordering::Relaxed);
    if is_blob_upload(method, path) && body > 0 {
        counters.blob_bytes.fetch_add(body, Ordering::Relaxed);
        counters.blob_requests.fetch_add(1, Ordering::Relaxed);
    }
    Ok(true)
}

fn copy_exact(
    reader: &mut BufReader<TcpStream>,
    upstream: &mut TcpStream,
    n: u64,
) -> std::io::Result<()> {
    let copied = std::io::copy(&mut reader.by_ref().take(n), upstream)?;
    if copied != n {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "request body cut off",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_lines() {
        let line = r#"127.0.0.1 - - [22/Nov/2026:05:00:00 +0000] "PATCH /v2/bench/app/blobs/uploads/abc?_state=x HTTP/1.1" 202 0 "" "forge""#;
        let (m, p) = parse_access_line(line).unwrap();
        assert_eq!(m, "PATCH");
        assert!(is_blob_upload(&m, &p));
        assert!(!is_blob_upload("HEAD", "/v2/bench/app/blobs/sha256:00"));
        assert_eq!(
            parse_access_line("time=… level=info msg=\"listening\""),
            None
        );
    }

    #[test]
    fn proxy_counts_blob_bodies_of_both_framings() {
        // An upstream that answers every request with 202 and no body.
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = upstream.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for conn in upstream.incoming() {
                let Ok(conn) = conn else { return };
                std::thread::spawn(move || {
                    let mut out = conn.try_clone().unwrap();
                    let mut r = BufReader::new(conn);
                    let mut buf = [0u8; 4096];
                    // Answer once per blank line that ends a header block; the test reads one
                    // response per request and the bodies never contain "\r\n\r\n".
                    let mut window = Vec::new();
                    while let Ok(n) = r.read(&mut buf) {
                        if n == 0 {
                            return;
                        }
                        window.extend_from_slice(&buf[..n]);
                        while let Some(i) = window.windows(4).position(|w| w == b"\r\n\r\n") {
                            window.drain(..i + 4);
                            let _ = out
                                .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
                        }
                    }
                });
            }
        });
        let proxy = CountingProxy::start(host).unwrap();
        let mut s = TcpStream::connect(proxy.host()).unwrap();
        let mut responses = BufReader::new(s.try_clone().unwrap());
        let mut read_response = || {
            let mut l = String::new();
            loop {
                l.clear();
                responses.read_line(&mut l).unwrap();
                if l == "\r\n" {
                    break;
                }
            }
        };
        s.write_all(b"PATCH /v2/a/blobs/uploads/1 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
            .unwrap();
        read_response();
        s.write_all(b"HEAD /v2/a/blobs/sha256:1 HTTP/1.1\r\n\r\n")
            .unwrap();
        read_response();
        s.write_all(
            b"PUT /v2/a/blobs/uploads/1?digest=x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        read_response();
        s.write_all(b"PUT /v2/a/manifests/1 HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}")
            .unwrap();
        read_response();
        let up = proxy.take();
        assert_eq!(up.blob_bytes, 10);
        assert_eq!(up.blob_requests, 2);
        assert_eq!(up.requests, 4);
        assert!(up.exact);
        assert_eq!(proxy.take().requests, 0);
    }
}
