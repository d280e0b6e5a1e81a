//! A fault-injecting HTTP proxy for tests, on loopback, in front of a real server (registry,
//! SeaweedFS, the GitHub emulator).
//!
//! Each request is read whole and forwarded on a fresh upstream connection (`Connection:
//! close`), so faults are decided per request, not per connection. With a seeded generator and a
//! rate, a request gets one of: a connection reset before any answer, a synthesized 500/502/503,
//! a 429 with `Retry-After: 1`, a slow answer (1.5 s delay), or a truncated body (headers and
//! half the body, then the connection closes). Everything is counted by method and path, faults
//! too, so tests can assert both that faults happened and that retries stayed within limits.
//!
//! [`FaultProxy::set_status`] switches to answering every request with one status instead (401,
//! 403, 404…: a host that refuses or does not know us), nothing forwarded.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A kind of injected fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Reset,
    Status500,
    Status502,
    Status503,
    TooMany,
    Slow,
    Truncate,
}

const ALL: [Fault; 7] = [
    Fault::Reset,
    Fault::Status500,
    Fault::Status502,
    Fault::Status503,
    Fault::TooMany,
    Fault::Slow,
    Fault::Truncate,
];

/// One proxied request.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub fault: Option<Fault>,
    pub status: Option<u16>,
}

struct Shared {
    seen: Mutex<Vec<Seen>>,
    rng: Mutex<u64>,
    /// Faults per thousand requests.
    rate: Mutex<u32>,
    kinds: Mutex<Vec<Fault>>,
    /// Answer every request with this status, forwarding nothing.
    status: Mutex<Option<u16>>,
    stop: AtomicBool,
}

/// The proxy; stops when dropped.
pub struct FaultProxy {
    addr: String,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Proxies to `upstream` (`host:port`), injecting faults in `rate` (0.0–1.0) of requests,
    /// drawn from `seed`.
    pub fn start(upstream: &str, rate: f64, seed: u64) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().unwrap().to_string();
        let shared = Arc::new(Shared {
            seen: Mutex::new(Vec::new()),
            rng: Mutex::new(
                seed.wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407)
                    | 1,
            ),
            rate: Mutex::new((rate * 1000.0).round() as u32),
            kinds: Mutex::new(ALL.to_vec()),
            status: Mutex::new(None),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let upstream = upstream.to_string();
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || loop {
            if s.stop.load(Ordering::SeqCst) {
                return;
            }
            match listener.accept() {
                Ok((client, _)) => {
                    let s = s.clone();
                    let up = upstream.clone();
                    std::thread::spawn(move || {
                        let _ = client.set_nonblocking(false);
                        handle(client, &up, &s);
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        });
        FaultProxy { addr, shared }
    }

    /// `127.0.0.1:PORT` of the proxy.
    pub fn host(&self) -> &str {
        &self.addr
    }

    /// Changes the fault rate (0.0–1.0).
    pub fn set_rate(&self, rate: f64) {
        *self.shared.rate.lock().unwrap() = (rate * 1000.0).round() as u32;
    }

    /// Restricts the kinds of faults injected.
    pub fn set_kinds(&self, kinds: &[Fault]) {
        *self.shared.kinds.lock().unwrap() = kinds.to_vec();
    }

    /// Answers every request with `status` (`None`: proxy again), forwarding nothing; a 401
    /// carries `WWW-Authenticate: Basic`.
    pub fn set_status(&self, status: Option<u16>) {
        *self.shared.status.lock().unwrap() = status;
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// How many faults were injected.
    pub fn faults(&self) -> usize {
        self.seen().iter().filter(|s| s.fault.is_some()).count()
    }

    /// Requests whose method is `method` and whose path contains `fragment`.
    pub fn count(&self, method: &str, fragment: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.method == method && s.path.contains(fragment))
            .count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

fn next(shared: &Shared) -> u64 {
    let mut x = shared.rng.lock().unwrap();
    // xorshift64*
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    x.wrapping_mul(0x2545F4914F6CDD1D)
}

fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
        if head.len() > 64 * 1024 {
            return None;
        }
    }
    Some(head)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

fn respond(client: &mut TcpStream, status: u16, reason: &str, extra: &str) {
    let body =
        format!("{{\"errors\":[{{\"code\":\"INJECTED\",\"message\":\"injected {status}\"}}]}}");
    let _ = write!(client, "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}", body.len());
}

fn handle(mut client: TcpStream, upstream: &str, shared: &Shared) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(60)));
    // One request per client connection: the upstream closes after its answer, and so do we.
    {
        let Some(head) = read_head(&mut client) else {
            return;
        };
        let text = String::from_utf8_lossy(&head).into_owned();
        let mut first = text.lines().next().unwrap_or("").split_whitespace();
        let method = first.next().unwrap_or("").to_string();
        let path = first.next().unwrap_or("").to_string();
        let len: usize = header(&text, "content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        if client.read_exact(&mut body).is_err() {
            return;
        }
        let forced = *shared.status.lock().unwrap();
        if let Some(status) = forced {
            shared.seen.lock().unwrap().push(Seen {
                method,
                path,
                fault: None,
                status: Some(status),
            });
            let (reason, extra) = match status {
                401 => (
                    "Unauthorized",
                    "WWW-Authenticate: Basic realm=\"fault-proxy\"\r\n",
                ),
                403 => ("Forbidden", ""),
                404 => ("Not Found", ""),
                _ => ("Injected", ""),
            };
            return respond(&mut client, status, reason, extra);
        }
        let rate = *shared.rate.lock().unwrap() as u64;
        let fault = if next(shared) % 1000 < rate {
            let kinds = shared.kinds.lock().unwrap().clone();
            (!kinds.is_empty()).then(|| kinds[(next(shared) % kinds.len() as u64) as usize])
        } else {
            None
        };
        let index = {
            let mut seen = shared.seen.lock().unwrap();
            seen.push(Seen {
                method: method.clone(),
                path: path.clone(),
                fault,
                status: None,
            });
            seen.len() - 1
        };
        match fault {
            Some(Fault::Reset) => {
                let _ = client.shutdown(Shutdown::Both);
                return;
            }
            Some(Fault::Status500) => {
                return respond(&mut client, 500, "Internal Server Error", "")
            }
            Some(Fault::Status502) => return respond(&mut client, 502, "Bad Gateway", ""),
            Some(Fault::Status503) => return respond(&mut client, 503, "Service Unavailable", ""),
            Some(Fault::TooMany) => {
                return respond(&mut client, 429, "Too Many Requests", "Retry-After: 1\r\n")
            }
            Some(Fault::Slow) => std::thread::sleep(Duration::from_millis(1500)),
            _ => {}
        }
        // Forward on a fresh connection, asking the upstream to close after the answer.
        let Ok(mut up) = TcpStream::connect(upstream) else {
            return respond(&mut client, 502, "Bad Gateway", "");
        };
        let mut forwarded = String::new();
        for (i, line) in text.split("\r\n").enumerate() {
            if line.is_empty() {
                continue;
            }
            if i > 0 && line.to_ascii_lowercase().starts_with("connection:") {
                continue;
            }
            forwarded.push_str(line);
            forwarded.push_str("\r\n");
        }
        forwarded.push_str("Connection: close\r\n\r\n");
        if up
            .write_all(forwarded.as_bytes())
            .and_then(|_| up.write_all(&body))
            .is_err()
        {
            return respond(&mut client, 502, "Bad Gateway", "");
        }
        let mut response = Vec::new();
        let _ = up.read_to_end(&mut response);
        let status = String::from_utf8_lossy(&response[..response.len().min(16)])
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok());
        shared.seen.lock().unwrap()[index].status = status;
        if fault == Some(Fault::Truncate) {
            let head_end = response
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|p| p + 4)
                .unwrap_or(response.len());
            let body_len = response.len() - head_end;
            let cut = head_end + body_len / 2;
            if body_len > 0 {
                let _ = client.write_all(&response[..cut]);
                let _ = client.shutdown(Shutdown::Both);
                return;
            }
            // Nothing to truncate (HEAD, empty body): reset instead.
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        let _ = client.write_all(&response);
        // The upstream closed: so do we (the client reconnects for its next request).
        let _ = client.shutdown(Shutdown::Both);
    }
}
