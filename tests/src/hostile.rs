//! A hostile OCI registry for the untrusted-input tests: it serves whatever manifests, configs
//! and blobs a test gives it — a config digest that is a path, a layer that does not match its
//! `diff_id`, a gzip bomb — which a real registry would refuse to store (docker-registry checks
//! what is pushed to it). It speaks the read side of the distribution API the way registries do:
//! `GET /v2/` answers 401 with a Bearer challenge, `/token` issues a token, every other request
//! needs it; manifests are served by tag and digest (`HEAD` and `GET`), blobs by digest. Blob
//! `GET`s can be redirected (307) to another server, as registries redirect to storage: a
//! [`HostileRegistry::storage`] instance on another port (another origin), or any URL.
//!
//! Every request is logged with its `Authorization` header ([`HostileRegistry::requests`]), so
//! a test can see where the token went. HTTP/1.1 on 127.0.0.1 with an ephemeral port, one thread
//! per connection, `Connection: close`; stopped on drop.

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::Digest;

/// One request the server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub status: u16,
}

#[derive(Default)]
struct State {
    /// `repo:reference` → (media type, bytes); references are tags and digests.
    manifests: BTreeMap<String, (String, Vec<u8>)>,
    /// digest → bytes.
    blobs: BTreeMap<String, Vec<u8>>,
    /// Blob GETs answer 307 to `{redirect}/storage/{digest}`.
    redirect: Option<String>,
    log: Vec<Seen>,
}

struct Shared {
    /// `None`: a storage server (no auth, serves `/storage/{digest}`).
    token: Option<String>,
    state: Mutex<State>,
}

/// The server. `host()` is `127.0.0.1:PORT`, a loopback registry (plain HTTP allowed).
pub struct HostileRegistry {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// `sha256:<hex>` of bytes.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

impl HostileRegistry {
    /// A registry that issues and requires the bearer token `token`.
    pub fn start(token: &str) -> HostileRegistry {
        HostileRegistry::run(Some(token.to_string()))
    }

    /// A storage server: blobs at `/storage/{digest}`, no auth, everything logged.
    pub fn storage() -> HostileRegistry {
        HostileRegistry::run(None)
    }

    fn run(token: Option<String>) -> HostileRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            token,
            state: Mutex::new(State::default()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let shared = shared.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = shared.clone();
                    std::thread::spawn(move || {
                        let _ = serve(stream, &shared, addr);
                    });
                }
            })
        };
        HostileRegistry {
            shared,
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serves `bytes` as a blob; returns its digest.
    pub fn put_blob(&self, bytes: Vec<u8>) -> String {
        let d = digest(&bytes);
        self.state().blobs.insert(d.clone(), bytes);
        d
    }

    /// Serves a manifest (or index) under `repo:tag` and `repo:digest`; returns its digest.
    pub fn put_manifest(&self, repo: &str, tag: &str, media_type: &str, bytes: Vec<u8>) -> String {
        let d = digest(&bytes);
        let mut s = self.state();
        s.manifests.insert(
            format!("{repo}:{tag}"),
            (media_type.to_string(), bytes.clone()),
        );
        s.manifests
            .insert(format!("{repo}:{d}"), (media_type.to_string(), bytes));
        d
    }

    /// Every blob served: (digest, bytes).
    pub fn blobs(&self) -> Vec<(String, Vec<u8>)> {
        self.state()
            .blobs
            .iter()
            .map(|(d, b)| (d.clone(), b.clone()))
            .collect()
    }

    /// Blob GETs answer `307 Location: {base}/storage/{digest}` from now on.
    pub fn redirect_blobs_to(&self, base: &str) {
        self.state().redirect = Some(base.trim_end_matches('/').to_string());
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.state().log.clone()
    }
}

impl Drop for HostileRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn answer(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Answer {
    Answer {
        status,
        headers,
        body,
    }
}

fn handle(shared: &Shared, req: &crate::github::HttpRequest, addr: SocketAddr) -> Answer {
    let state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    let Some(token) = &shared.token else {
        // Storage: blobs by digest, to anyone.
        return match req
            .path
            .strip_prefix("/storage/")
            .and_then(|d| state.blobs.get(d))
        {
            Some(b) => answer(200, vec![], b.clone()),
            None => answer(404, vec![], Vec::new()),
        };
    };
    if req.path == "/token" {
        return answer(
            200,
            vec![("Content-Type".into(), "application/json".into())],
            serde_json::json!({ "token": token, "expires_in": 300 })
                .to_string()
                .into_bytes(),
        );
    }
    let authorized = req.header("authorization") == Some(&format!("Bearer {token}"));
    if !authorized {
        let challenge = format!(
            "Bearer realm=\"http://{addr}/token\",service=\"hostile\",scope=\"repository:x:pull\""
        );
        return answer(
            401,
            vec![("WWW-Authenticate".into(), challenge)],
            br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.to_vec(),
        );
    }
    if req.path == "/v2/" {
        return answer(200, vec![], b"{}".to_vec());
    }
    let Some(rest) = req.path.strip_prefix("/v2/") else {
        return answer(404, vec![], Vec::new());
    };
    if let Some((repo, reference)) = rest.rsplit_once("/manifests/") {
        return match state.manifests.get(&format!("{repo}:{reference}")) {
            Some((media_type, bytes)) => answer(
                200,
                vec![
                    ("Content-Type".into(), media_type.clone()),
                    ("Docker-Content-Digest".into(), digest(bytes)),
                ],
                bytes.clone(),
            ),
            None => answer(
                404,
                vec![],
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#.to_vec(),
            ),
        };
    }
    if let Some((_, d)) = rest.rsplit_once("/blobs/") {
        if let Some(base) = &state.redirect {
            return answer(
                307,
                vec![("Location".into(), format!("{base}/storage/{d}"))],
                Vec::new(),
            );
        }
        return match state.blobs.get(d) {
            Some(b) => answer(200, vec![], b.clone()),
            None => answer(
                404,
                vec![],
                br#"{"errors":[{"code":"BLOB_UNKNOWN"}]}"#.to_vec(),
            ),
        };
    }
    answer(404, vec![], Vec::new())
}

fn serve(stream: TcpStream, shared: &Shared, addr: SocketAddr) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let Some(req) = crate::github::read_request(&mut reader, &mut writer)? else {
        return Ok(());
    };
    let a = handle(shared, &req, addr);
    shared
        .state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .log
        .push(Seen {
            method: req.method.clone(),
            path: req.path.clone(),
            authorization: req.header("authorization").map(str::to_string),
            status: a.status,
        });
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        a.status,
        crate::github::reason(a.status),
        a.body.len()
    );
    for (k, v) in &a.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes())?;
    if req.method != "HEAD" {
        writer.write_all(&a.body)?;
    }
    writer.flush()?;
    let _ = writer.shutdown(std::net::Shutdown::Both);
    Ok(())
}
