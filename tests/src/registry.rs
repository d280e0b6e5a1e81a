//! A real OCI registry for the end-to-end tests: Debian's `docker-registry` (distribution 2.8) on
//! loopback, with an ephemeral port, storage in a temporary directory, optional htpasswd auth, and
//! its access log read back so tests can count requests ("0 blob PUTs on the second push").
//!
//! Why the access log and not a counting proxy: the registry writes one combined-log line per
//! request on stdout as its handler finishes, so the log shows exactly what reached the registry,
//! with no second HTTP implementation in between to get wrong. To read it without racing the
//! line of the last request, [`Registry::requests`] first sends a sentinel request of its own and
//! waits until that is logged; sentinel lines are left out of the result.
//!
//! The port is found by binding port 0 and releasing it; if another process takes it in between,
//! the start is retried with a new port. The registry is killed when the [`Registry`] drops.
//!
//! [`FaultyProxy`] sits in front of it to break chosen requests mid-way, for the retry tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The registry binary Debian's `docker-registry` package installs.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

const SENTINEL: &str = "forge-sentinel";

/// One line of the registry's access log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    pub status: u16,
}

impl LoggedRequest {
    /// A request that sends blob bytes (`PUT`/`PATCH` of an upload session).
    pub fn is_blob_upload(&self) -> bool {
        matches!(self.method.as_str(), "PUT" | "PATCH") && self.path.contains("/blobs/uploads/")
    }
}

/// A running registry; stopped on drop.
pub struct Registry {
    child: Child,
    port: u16,
    host: String,
    dir: tempfile::TempDir,
    sentinels: AtomicU32,
    credentials: Option<(String, String)>,
}

impl Registry {
    /// A registry without authentication.
    pub fn start() -> Registry {
        Registry::start_with(None)
    }

    /// A registry that requires `user`/`password` (htpasswd, bcrypt).
    pub fn start_with_htpasswd(user: &str, password: &str) -> Registry {
        Registry::start_with(Some((user.to_string(), password.to_string())))
    }

    fn start_with(credentials: Option<(String, String)>) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("forge-registry-")
            .tempdir()
            .expect("tempdir");
        if let Some((user, password)) = &credentials {
            let hash = bcrypt::hash(password, 4).expect("bcrypt");
            std::fs::write(dir.path().join("htpasswd"), format!("{user}:{hash}\n"))
                .expect("write htpasswd");
        }
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port();
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                config_yaml(dir.path(), port, credentials.is_some()),
            )
            .expect("write registry config");
            let access = std::fs::File::create(dir.path().join("access.log")).expect("log");
            let errors = std::fs::File::create(dir.path().join("registry.log")).expect("log");
            let child = Command::new(REGISTRY_BIN)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(access)
                .stderr(errors)
                .spawn()
                .unwrap_or_else(|e| panic!("failed to start {REGISTRY_BIN}: {e}"));
            let mut child = child;
            let host = format!("127.0.0.1:{port}");
            if wait_ready(&mut child, &host) {
                return Registry {
                    child,
                    port,
                    host,
                    dir,
                    sentinels: AtomicU32::new(0),
                    credentials,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default();
            if !last_log.contains("address already in use") {
                panic!("docker-registry did not start:\n{last_log}");
            }
            // Someone took the port in between: try another.
        }
        panic!("docker-registry did not start after 5 ports:\n{last_log}");
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user and password the registry requires, if any.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The registry's own log (stderr), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Every request the registry has handled so far, in order (sentinels left out).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        let n = self.sentinels.fetch_add(1, Ordering::Relaxed);
        let marker = format!("/v2/{SENTINEL}-{n}/tags/list");
        raw_get(&self.host, &marker);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text =
                std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
            if text.contains(&marker) {
                return text.lines().filter_map(parse_access_line).collect();
            }
            if Instant::now() > deadline {
                panic!("the registry never logged {marker}:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A position in the request log, for [`Registry::requests_since`].
    pub fn mark(&self) -> usize {
        self.requests().len()
    }

    /// The requests after a [`Registry::mark`].
    pub fn requests_since(&self, mark: usize) -> Vec<LoggedRequest> {
        self.requests().into_iter().skip(mark).collect()
    }

    /// How many requests with `method` had a path containing `fragment`.
    pub fn count(&self, method: &str, fragment: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.path.contains(fragment))
            .count()
    }

    /// Writes a docker `config.json` with an `auths` entry for this registry into `dir` (use it
    /// as `DOCKER_CONFIG`) and returns its path.
    pub fn write_docker_config(&self, dir: &Path, user: &str, password: &str) -> PathBuf {
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let config = serde_json::json!({ "auths": { self.host.clone(): { "auth": auth } } });
        std::fs::create_dir_all(dir).expect("create config dir");
        let path = dir.join("config.json");
        std::fs::write(&path, config.to_string()).expect("write config.json");
        path
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config_yaml(dir: &Path, port: u16, htpasswd: bool) -> String {
    let mut yaml = format!(
        "version: 0.1\n\
         log:\n  level: info\n  formatter: text\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:{port}\n  secret: forge-test-http-secret\n",
        dir.join("storage").display()
    );
    if htpasswd {
        yaml.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: forge-test\n    path: {}\n",
            dir.join("htpasswd").display()
        ));
    }
    yaml
}

/// A TCP proxy in front of a registry that breaks chosen requests: the first `count` requests
/// starting with `prefix` (e.g. `"PUT /v2/"`) are cut off halfway through what the client sent
/// and both connections closed, as a flaky network would. Everything else passes through.
/// Stops accepting when dropped.
pub struct FaultyProxy {
    host: String,
    broken: std::sync::Arc<AtomicU32>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FaultyProxy {
    pub fn start(upstream: &str, faults: &[(&str, u32)]) -> FaultyProxy {
        use std::sync::atomic::AtomicBool;
        use std::sync::{Arc, Mutex};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let host = listener.local_addr().expect("proxy address").to_string();
        let faults: Arc<Mutex<Vec<(String, u32)>>> = Arc::new(Mutex::new(
            faults.iter().map(|(p, n)| (p.to_string(), *n)).collect(),
        ));
        let broken = Arc::new(AtomicU32::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (upstream, broken2, stop2) = (upstream.to_string(), broken.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (faults, broken) = (faults.clone(), broken2.clone());
                let (mut c_read, mut s_write) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (mut s_read, mut c_write) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_read, &mut c_write);
                    let _ = c_write.shutdown(std::net::Shutdown::Both);
                });
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match c_read.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let chunk = &buf[..n];
                        let cut = {
                            let mut faults = faults.lock().unwrap();
                            faults
                                .iter_mut()
                                .find(|(prefix, left)| {
                                    *left > 0 && chunk.starts_with(prefix.as_bytes())
                                })
                                .map(|(_, left)| *left -= 1)
                                .is_some()
                        };
                        if cut {
                            let _ = s_write.write_all(&chunk[..n / 2]);
                            broken.fetch_add(1, Ordering::Relaxed);
                            let _ = s_write.shutdown(std::net::Shutdown::Both);
                            let _ = c_read.shutdown(std::net::Shutdown::Both);
                            break;
                        }
                        if s_write.write_all(chunk).is_err() {
                            break;
                        }
                    }
                    let _ = s_write.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        FaultyProxy { host, broken, stop }
    }

    /// `127.0.0.1:PORT` of the proxy.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// How many requests were broken so far.
    pub fn broken(&self) -> u32 {
        self.broken.load(Ordering::Relaxed)
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(&self.host);
    }
}

/// Waits until `GET /v2/` answers (200, or 401 with auth); false if the registry exited.
fn wait_ready(child: &mut Child, host: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if matches!(raw_get(host, "/v2/"), Some(200 | 401)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// `GET path` over a fresh connection; the status code, or `None` when nothing answered.
fn raw_get(host: &str, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut line = String::new();
    BufReader::new(&mut stream).read_line(&mut line).ok()?;
    let status = line.split_whitespace().nth(1)?.parse().ok();
    let _ = stream.read_to_end(&mut Vec::new());
    status
}

/// `127.0.0.1 - - [date] "PUT /v2/… HTTP/1.1" 201 0 "" "agent"` → method, path, status.
fn parse_access_line(line: &str) -> Option<LoggedRequest> {
    let (_, rest) = line.split_once('"')?;
    let (request, rest) = rest.split_once('"')?;
    let mut parts = request.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    if path.contains(SENTINEL) {
        return None;
    }
    let status = rest.split_whitespace().next()?.parse().ok()?;
    Some(LoggedRequest {
        method,
        path,
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_lines() {
        let line = r#"127.0.0.1 - - [22/Nov/2026:03:32:57 +0000] "PUT /v2/a/blobs/uploads/u?_state=x&digest=sha256:1 HTTP/1.1" 201 0 "" "cargo-forge/0.1.0""#;
        let r = parse_access_line(line).unwrap();
        assert_eq!(r.method, "PUT");
        assert_eq!(r.status, 201);
        assert!(r.is_blob_upload());
        assert!(parse_access_line(
            r#"127.0.0.1 - - [x] "GET /v2/forge-sentinel-3/tags/list HTTP/1.1" 404 0 "" "x""#
        )
        .is_none());
    }
}
