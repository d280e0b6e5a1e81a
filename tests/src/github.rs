//! A GitHub REST emulator (and, in its Gitea mode, a Gitea/Forgejo one) for the release-host
//! tests: an HTTP/1.1 server on 127.0.0.1 with an ephemeral port, one thread per connection.
//!
//! It implements what the `github` and `gitea` hosts use, with the behaviour that makes
//! publishing hard (as GitHub and Gitea document their release APIs), because that is what the tests must catch:
//!
//! - **GitHub**: token check (`Authorization: Bearer TOKEN`, else 401 `Bad credentials`),
//!   `GET /repos/O/R` with `permissions`, releases listed (drafts included, newest first,
//!   `per_page`/`page`), created, read, edited, deleted; `GET /releases/tags/TAG` never returns a
//!   draft; assets listed and deleted; uploads under a separate prefix (`/uploads/…`, like
//!   uploads.github.com) named by the `upload_url` template, needing `Content-Type`, with 422
//!   `already_exists` on a duplicate name, unusual characters renamed to `.`, and asset objects
//!   carrying `state`, `size` and `digest: "sha256:…"`; published releases are immutable (no
//!   uploads or asset deletes); `browser_download_url` serves the bytes of published releases.
//! - **Gitea** (`/api/v1/…`): `token` or `bearer` scheme, multipart uploads (field
//!   `attachment`) to `POST /releases/ID/assets?name=`, **no** duplicate-name check, attachments
//!   without state or digest.
//!
//! Fault injection: [`Emulator::fail_uploads`] answers the next uploads with an error status —
//! a 502 leaves what the real service leaves (GitHub: an empty `starter` asset; Gitea: the
//! attachment stored, its answer lost), a 504 on GitHub stores the complete asset and loses the
//! answer, other statuses store nothing; [`Emulator::down`] answers everything with 503. Every
//! request is logged with its status ([`Emulator::requests`], [`Emulator::count`]), and
//! [`Emulator::releases`] is a snapshot of the data for assertions. The server stops on drop.
//!
//! Why an emulator and not the real thing: GitHub cannot run here, and the behaviours above are
//! documented facts of its API that a test must be able to provoke on demand.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};
use sha2::Digest;

/// Which API the emulator speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Github,
    Gitea,
}

/// An asset (attachment) held by the emulator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmuAsset {
    pub id: u64,
    pub name: String,
    /// `uploaded`, or `starter` for the leftover of a failed upload.
    pub state: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// A release held by the emulator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmuRelease {
    pub id: u64,
    pub tag_name: String,
    pub target_commitish: String,
    pub name: String,
    pub body: String,
    pub draft: bool,
    pub prerelease: bool,
    /// The last `make_latest` sent (GitHub only).
    pub make_latest: Option<String>,
    pub assets: Vec<EmuAsset>,
}

/// One request the emulator answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    pub query: String,
    pub status: u16,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
}

impl Logged {
    /// Whether it is an asset upload (GitHub's uploads prefix, or Gitea's `POST …/assets`).
    pub fn is_upload(&self) -> bool {
        self.method == "POST"
            && (self.path.starts_with("/uploads/") || self.path.ends_with("/assets"))
    }

    /// The `name` query parameter.
    pub fn name_param(&self) -> Option<String> {
        query_param(&self.query, "name")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct World {
    next_id: u64,
    releases: Vec<EmuRelease>,
    /// Uploads still to fail, with the status to answer.
    fail_uploads: u32,
    fail_status: u16,
    /// Only uploads of this name fail, when set.
    fail_name: Option<String>,
    down: bool,
    read_only: bool,
    log: Vec<Logged>,
}

impl Shared {
    fn base(&self) -> String {
        self.base.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

struct Shared {
    flavor: Flavor,
    repo: String,
    token: String,
    /// The base URL written into answers (`upload_url`…): the emulator's own, or a proxy's.
    base: Mutex<String>,
    world: Mutex<World>,
}

/// A running emulator; stopped on drop.
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// An HTTP request as parsed.
pub(crate) struct HttpRequest {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl HttpRequest {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An answer.
struct Reply {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
}

fn reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        content_type: "application/json; charset=utf-8",
        body: body.to_string().into_bytes(),
        headers: vec![],
    }
}

fn empty(status: u16) -> Reply {
    Reply {
        status,
        content_type: "application/json",
        body: Vec::new(),
        headers: vec![],
    }
}

fn not_found() -> Reply {
    reply(
        404,
        json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
    )
}

impl Emulator {
    /// A GitHub emulator for `repo` (`owner/name`) accepting `token`.
    pub fn github(repo: &str, token: &str) -> Emulator {
        Emulator::start(Flavor::Github, repo, token)
    }

    /// A Gitea emulator for `repo` accepting `token`.
    pub fn gitea(repo: &str, token: &str) -> Emulator {
        Emulator::start(Flavor::Gitea, repo, token)
    }

    fn start(flavor: Flavor, repo: &str, token: &str) -> Emulator {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            flavor,
            repo: repo.to_string(),
            token: token.to_string(),
            base: Mutex::new(format!("http://{addr}")),
            world: Mutex::new(World {
                next_id: 1,
                ..World::default()
            }),
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
                        let _ = serve(stream, &shared);
                    });
                }
            })
        };
        Emulator {
            shared,
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`: the API URL of the GitHub mode (`GITHUB_API_URL`) and the
    /// instance URL of the Gitea mode.
    /// Writes `url` instead of the emulator's own address into answers (`upload_url`, asset
    /// URLs), so that clients come back through a proxy in front of it.
    pub fn advertise(&self, url: &str) {
        *self.shared.base.lock().unwrap_or_else(|e| e.into_inner()) = url.to_string();
    }

    pub fn url(&self) -> String {
        self.shared.base()
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.shared.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next `n` uploads answer `status` (0 clears). A 502 leaves a `starter` asset behind
    /// (GitHub) or stores the attachment (Gitea), as the real services can; a 504 (GitHub)
    /// stores the complete asset, as when a gateway gives up on an upload that goes through.
    pub fn fail_uploads(&self, n: u32, status: u16) {
        let mut w = self.world();
        w.fail_uploads = n;
        w.fail_status = status;
        w.fail_name = None;
    }

    /// Like [`Emulator::fail_uploads`], for uploads of `name` only.
    pub fn fail_uploads_of(&self, name: &str, n: u32, status: u16) {
        let mut w = self.world();
        w.fail_uploads = n;
        w.fail_status = status;
        w.fail_name = Some(name.to_string());
    }

    /// Answers every request with 503 while `down`.
    pub fn down(&self, down: bool) {
        self.world().down = down;
    }

    /// Reports `permissions.push = false` for the repository.
    pub fn read_only(&self, read_only: bool) {
        self.world().read_only = read_only;
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<Logged> {
        self.world().log.clone()
    }

    /// Requests with `method` whose path contains `path`.
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.world()
            .log
            .iter()
            .filter(|l| l.method == method && l.path.contains(path))
            .count()
    }

    /// Upload requests (any outcome).
    pub fn uploads(&self) -> Vec<Logged> {
        self.world()
            .log
            .iter()
            .filter(|l| l.is_upload())
            .cloned()
            .collect()
    }

    /// Successful uploads per asset name.
    pub fn successful_uploads(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for l in self.uploads().iter().filter(|l| l.status == 201) {
            *m.entry(l.name_param().unwrap_or_default()).or_insert(0) += 1;
        }
        m
    }

    /// A snapshot of every release, newest first.
    pub fn releases(&self) -> Vec<EmuRelease> {
        let mut r = self.world().releases.clone();
        r.reverse();
        r
    }

    /// Adds a release directly (a published one to conflict with, a draft to resume).
    pub fn seed_release(&self, tag: &str, draft: bool, assets: &[(&str, &[u8])]) -> u64 {
        let mut w = self.world();
        let id = w.next_id;
        w.next_id += 1;
        let mut rel = EmuRelease {
            id,
            tag_name: tag.into(),
            target_commitish: "main".into(),
            name: tag.into(),
            body: String::new(),
            draft,
            prerelease: false,
            make_latest: None,
            assets: vec![],
        };
        for (name, bytes) in assets {
            let aid = w.next_id;
            w.next_id += 1;
            rel.assets.push(EmuAsset {
                id: aid,
                name: name.to_string(),
                state: "uploaded".into(),
                content_type: "application/octet-stream".into(),
                bytes: bytes.to_vec(),
            });
        }
        w.releases.push(rel);
        id
    }
}

impl Emulator {
    /// Adds an asset in state `starter` (the leftover of an upload that broke off) to a release.
    pub fn add_starter(&self, release_id: u64, name: &str) {
        let mut w = self.world();
        let id = new_id(&mut w);
        if let Some(rel) = w.releases.iter_mut().find(|r| r.id == release_id) {
            rel.assets.push(EmuAsset {
                id,
                name: name.into(),
                state: "starter".into(),
                content_type: "application/octet-stream".into(),
                bytes: vec![],
            });
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let Some(req) = read_request(&mut reader, &mut writer)? else {
        return Ok(());
    };
    let answer = handle(shared, &req);
    {
        let mut w = shared.world.lock().unwrap_or_else(|e| e.into_inner());
        w.log.push(Logged {
            method: req.method.clone(),
            path: req.path.clone(),
            query: req.query.clone(),
            status: answer.status,
            headers: req.headers.clone(),
        });
    }
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        answer.status,
        reason(answer.status),
        answer.content_type,
        answer.body.len()
    );
    for (k, v) in &answer.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes())?;
    if req.method != "HEAD" {
        writer.write_all(&answer.body)?;
    }
    writer.flush()?;
    let _ = writer.shutdown(std::net::Shutdown::Both);
    Ok(())
}

pub(crate) fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
) -> std::io::Result<Option<HttpRequest>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    if get("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let mut body = Vec::new();
    if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(len) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body = vec![0; len];
        reader.read_exact(&mut body)?;
    }
    Ok(Some(HttpRequest {
        method: method.to_string(),
        path: percent_decode(path),
        query: query.to_string(),
        headers,
        body,
    }))
}

pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn handle(shared: &Shared, req: &HttpRequest) -> Reply {
    let mut w = shared.world.lock().unwrap_or_else(|e| e.into_inner());
    if w.down {
        return reply(503, json!({"message": "Service Unavailable"}));
    }
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    // Downloads need no token (public repository): /O/R/releases/download/TAG/NAME.
    if let [o, r, "releases", "download", tag, name] = segs.as_slice() {
        if format!("{o}/{r}") != shared.repo {
            return not_found();
        }
        let found = w
            .releases
            .iter()
            .filter(|rel| !rel.draft && rel.tag_name == *tag)
            .flat_map(|rel| rel.assets.iter())
            .find(|a| a.name == *name && a.state == "uploaded");
        return match found {
            Some(a) => Reply {
                status: 200,
                content_type: "application/octet-stream",
                body: a.bytes.clone(),
                headers: vec![],
            },
            None => not_found(),
        };
    }
    if !authorized(shared, req) {
        return match shared.flavor {
            Flavor::Github => reply(
                401,
                json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
            ),
            Flavor::Gitea => reply(
                401,
                json!({"message": "user does not exist", "url": format!("{}/api/swagger", shared.base())}),
            ),
        };
    }
    match shared.flavor {
        Flavor::Github => github_route(shared, &mut w, req, &segs),
        Flavor::Gitea => gitea_route(shared, &mut w, req, &segs),
    }
}

fn authorized(shared: &Shared, req: &HttpRequest) -> bool {
    let Some(value) = req.header("authorization") else {
        return false;
    };
    let Some((scheme, token)) = value.split_once(' ') else {
        return false;
    };
    let scheme_ok = match shared.flavor {
        Flavor::Github => scheme == "Bearer" || scheme.eq_ignore_ascii_case("token"),
        Flavor::Gitea => {
            scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")
        }
    };
    scheme_ok && token.trim() == shared.token
}

fn now() -> &'static str {
    "2026-11-22T12:00:00Z"
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

fn github_asset(shared: &Shared, rel: &EmuRelease, a: &EmuAsset) -> Value {
    let tag = if rel.draft {
        format!("untagged-{}", rel.id)
    } else {
        rel.tag_name.clone()
    };
    json!({
        "id": a.id,
        "url": format!("{}/repos/{}/releases/assets/{}", shared.base(), shared.repo, a.id),
        "name": a.name,
        "label": "",
        "content_type": a.content_type,
        "state": a.state,
        "size": a.bytes.len(),
        "digest": if a.state == "uploaded" { json!(format!("sha256:{}", sha256_hex(&a.bytes))) } else { Value::Null },
        "download_count": 0,
        "created_at": now(),
        "updated_at": now(),
        "browser_download_url": format!("{}/{}/releases/download/{tag}/{}", shared.base(), shared.repo, a.name),
    })
}

fn github_release(shared: &Shared, rel: &EmuRelease) -> Value {
    json!({
        "id": rel.id,
        "url": format!("{}/repos/{}/releases/{}", shared.base(), shared.repo, rel.id),
        "html_url": format!("{}/{}/releases/tag/{}", shared.base(), shared.repo, rel.tag_name),
        "assets_url": format!("{}/repos/{}/releases/{}/assets", shared.base(), shared.repo, rel.id),
        "upload_url": format!("{}/uploads/repos/{}/releases/{}/assets{{?name,label}}", shared.base(), shared.repo, rel.id),
        "tag_name": rel.tag_name,
        "target_commitish": rel.target_commitish,
        "name": rel.name,
        "body": rel.body,
        "draft": rel.draft,
        "prerelease": rel.prerelease,
        "immutable": !rel.draft,
        "created_at": now(),
        "published_at": if rel.draft { Value::Null } else { json!(now()) },
        "assets": rel.assets.iter().map(|a| github_asset(shared, rel, a)).collect::<Vec<_>>(),
    })
}

fn page_of<T: Clone>(items: &[T], query: &str, default: usize) -> Vec<T> {
    let per = query_param(query, "per_page")
        .or_else(|| query_param(query, "limit"))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(default)
        .clamp(1, 100);
    let page = query_param(query, "page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    items
        .iter()
        .skip((page - 1) * per)
        .take(per)
        .cloned()
        .collect()
}

fn json_body(req: &HttpRequest) -> Option<Value> {
    serde_json::from_slice(&req.body).ok()
}

fn validation(code: &str, resource: &str, field: &str) -> Reply {
    reply(
        422,
        json!({
            "message": "Validation Failed",
            "errors": [{"resource": resource, "code": code, "field": field}],
            "documentation_url": "https://docs.github.com/rest",
        }),
    )
}

fn new_id(w: &mut World) -> u64 {
    let id = w.next_id;
    w.next_id += 1;
    id
}

/// Applies the fields of a create or edit body.
fn apply(rel: &mut EmuRelease, body: &Value) {
    if let Some(v) = body.get("tag_name").and_then(Value::as_str) {
        rel.tag_name = v.into();
    }
    if let Some(v) = body.get("target_commitish").and_then(Value::as_str) {
        rel.target_commitish = v.into();
    }
    if let Some(v) = body.get("name").and_then(Value::as_str) {
        rel.name = v.into();
    }
    if let Some(v) = body.get("body").and_then(Value::as_str) {
        rel.body = v.into();
    }
    if let Some(v) = body.get("prerelease").and_then(Value::as_bool) {
        rel.prerelease = v;
    }
    if let Some(v) = body.get("make_latest").and_then(Value::as_str) {
        rel.make_latest = Some(v.into());
    }
}

/// Takes one injected upload failure, if one applies to `name`.
fn take_failure(w: &mut World, name: &str) -> Option<u16> {
    if w.fail_uploads == 0 || w.fail_name.as_deref().is_some_and(|n| n != name) {
        return None;
    }
    w.fail_uploads -= 1;
    Some(w.fail_status)
}

fn github_route(shared: &Shared, w: &mut World, req: &HttpRequest, segs: &[&str]) -> Reply {
    let m = req.method.as_str();
    let (uploads, segs) = match segs {
        ["uploads", rest @ ..] => (true, rest),
        _ => (false, segs),
    };
    let ["repos", o, r, rest @ ..] = segs else {
        return not_found();
    };
    if format!("{o}/{r}") != shared.repo {
        return not_found();
    }
    if uploads {
        let ["releases", id, "assets"] = rest else {
            return not_found();
        };
        return if m == "POST" {
            github_upload(shared, w, req, id)
        } else {
            not_found()
        };
    }
    let find = |w: &World, id: &str| w.releases.iter().position(|rel| rel.id.to_string() == id);
    match (m, rest) {
        ("GET", []) => reply(
            200,
            json!({
                "id": 1, "name": r, "full_name": shared.repo, "private": false,
                "permissions": {"admin": false, "maintain": false, "push": !w.read_only, "triage": true, "pull": true},
            }),
        ),
        ("GET", ["releases"]) => {
            let all: Vec<Value> = w
                .releases
                .iter()
                .rev()
                .map(|rel| github_release(shared, rel))
                .collect();
            reply(200, Value::Array(page_of(&all, &req.query, 30)))
        }
        ("POST", ["releases"]) => {
            let Some(body) = json_body(req) else {
                return reply(400, json!({"message": "Problems parsing JSON"}));
            };
            let Some(tag) = body.get("tag_name").and_then(Value::as_str) else {
                return validation("missing_field", "Release", "tag_name");
            };
            if w.releases
                .iter()
                .any(|rel| !rel.draft && rel.tag_name == tag)
            {
                return validation("already_exists", "Release", "tag_name");
            }
            let id = new_id(w);
            let mut rel = EmuRelease {
                id,
                tag_name: tag.into(),
                target_commitish: "main".into(),
                name: String::new(),
                body: String::new(),
                draft: body.get("draft").and_then(Value::as_bool).unwrap_or(false),
                prerelease: false,
                make_latest: None,
                assets: vec![],
            };
            apply(&mut rel, &body);
            let out = github_release(shared, &rel);
            w.releases.push(rel);
            reply(201, out)
        }
        ("GET", ["releases", "tags", tag]) => match w
            .releases
            .iter()
            .rev()
            .find(|rel| !rel.draft && rel.tag_name == *tag)
        {
            Some(rel) => reply(200, github_release(shared, rel)),
            None => not_found(),
        },
        ("GET", ["releases", "latest"]) => {
            match w.releases.iter().rev().find(|rel| {
                !rel.draft && !rel.prerelease && rel.make_latest.as_deref() != Some("false")
            }) {
                Some(rel) => reply(200, github_release(shared, rel)),
                None => not_found(),
            }
        }
        ("GET", ["releases", "assets", aid]) => {
            for rel in &w.releases {
                if let Some(a) = rel.assets.iter().find(|a| a.id.to_string() == *aid) {
                    return reply(200, github_asset(shared, rel, a));
                }
            }
            not_found()
        }
        ("DELETE", ["releases", "assets", aid]) => {
            for rel in &mut w.releases {
                if let Some(i) = rel.assets.iter().position(|a| a.id.to_string() == *aid) {
                    if !rel.draft {
                        return reply(
                            422,
                            json!({"message": "Cannot delete asset from an immutable release."}),
                        );
                    }
                    rel.assets.remove(i);
                    return empty(204);
                }
            }
            not_found()
        }
        ("GET", ["releases", id]) => match find(w, id) {
            Some(i) => reply(200, github_release(shared, &w.releases[i])),
            None => not_found(),
        },
        ("PATCH", ["releases", id]) => {
            let Some(i) = find(w, id) else {
                return not_found();
            };
            let Some(body) = json_body(req) else {
                return reply(400, json!({"message": "Problems parsing JSON"}));
            };
            let rel = &mut w.releases[i];
            if !rel.draft && body.get("draft").and_then(Value::as_bool) == Some(true) {
                return reply(
                    422,
                    json!({"message": "Cannot convert an immutable release back to a draft."}),
                );
            }
            apply(rel, &body);
            if let Some(d) = body.get("draft").and_then(Value::as_bool) {
                rel.draft = d;
            }
            reply(200, github_release(shared, &w.releases[i]))
        }
        ("DELETE", ["releases", id]) => match find(w, id) {
            Some(i) => {
                w.releases.remove(i);
                empty(204)
            }
            None => not_found(),
        },
        ("GET", ["releases", id, "assets"]) => match find(w, id) {
            Some(i) => {
                let rel = &w.releases[i];
                let all: Vec<Value> = rel
                    .assets
                    .iter()
                    .map(|a| github_asset(shared, rel, a))
                    .collect();
                reply(200, Value::Array(page_of(&all, &req.query, 30)))
            }
            None => not_found(),
        },
        _ => not_found(),
    }
}

/// GitHub renames characters it does not accept in asset names (to `.`).
fn github_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-+".contains(c) {
                c
            } else {
                '.'
            }
        })
        .collect()
}

fn github_upload(shared: &Shared, w: &mut World, req: &HttpRequest, id: &str) -> Reply {
    let Some(name) = query_param(&req.query, "name").filter(|n| !n.is_empty()) else {
        return reply(400, json!({"message": "name is required"}));
    };
    let Some(content_type) = req.header("content-type").map(str::to_string) else {
        return reply(400, json!({"message": "Content-Type header is required"}));
    };
    if req
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
        != Some(req.body.len())
    {
        return reply(400, json!({"message": "Content-Length header is required"}));
    }
    let Some(i) = w.releases.iter().position(|rel| rel.id.to_string() == id) else {
        return not_found();
    };
    if !w.releases[i].draft {
        return reply(
            422,
            json!({"message": "Cannot upload assets to an immutable release."}),
        );
    }
    let name = github_name(&name);
    if w.releases[i].assets.iter().any(|a| a.name == name) {
        return validation("already_exists", "ReleaseAsset", "name");
    }
    if let Some(status) = take_failure(w, &name) {
        let (state, bytes) = match status {
            // GitHub: "this may leave an empty asset with a state of starter".
            502 => ("starter", vec![]),
            // A gateway gave up waiting, but the upload went through.
            504 => ("uploaded", req.body.clone()),
            _ => return reply(status, json!({"message": "Server Error"})),
        };
        let aid = new_id(w);
        w.releases[i].assets.push(EmuAsset {
            id: aid,
            name,
            state: state.into(),
            content_type,
            bytes,
        });
        return reply(status, json!({"message": "Server Error"}));
    }
    let aid = new_id(w);
    let asset = EmuAsset {
        id: aid,
        name,
        state: "uploaded".into(),
        content_type,
        bytes: req.body.clone(),
    };
    let out = github_asset(shared, &w.releases[i], &asset);
    w.releases[i].assets.push(asset);
    reply(201, out)
}

fn gitea_asset(shared: &Shared, rel: &EmuRelease, a: &EmuAsset) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "size": a.bytes.len(),
        "download_count": 0,
        "created_at": now(),
        "uuid": format!("uuid-{}", a.id),
        "browser_download_url": format!("{}/{}/releases/download/{}/{}", shared.base(), shared.repo, rel.tag_name, a.name),
    })
}

fn gitea_release(shared: &Shared, rel: &EmuRelease) -> Value {
    json!({
        "id": rel.id,
        "tag_name": rel.tag_name,
        "target_commitish": rel.target_commitish,
        "name": rel.name,
        "body": rel.body,
        "url": format!("{}/api/v1/repos/{}/releases/{}", shared.base(), shared.repo, rel.id),
        "html_url": format!("{}/{}/releases/tag/{}", shared.base(), shared.repo, rel.tag_name),
        "upload_url": format!("{}/api/v1/repos/{}/releases/{}/assets", shared.base(), shared.repo, rel.id),
        "draft": rel.draft,
        "prerelease": rel.prerelease,
        "created_at": now(),
        "published_at": now(),
        "assets": rel.assets.iter().map(|a| gitea_asset(shared, rel, a)).collect::<Vec<_>>(),
    })
}

fn gitea_route(shared: &Shared, w: &mut World, req: &HttpRequest, segs: &[&str]) -> Reply {
    let m = req.method.as_str();
    let ["api", "v1", "repos", o, r, rest @ ..] = segs else {
        return not_found();
    };
    if format!("{o}/{r}") != shared.repo {
        return not_found();
    }
    let find = |w: &World, id: &str| w.releases.iter().position(|rel| rel.id.to_string() == id);
    match (m, rest) {
        ("GET", []) => reply(
            200,
            json!({
                "id": 1, "name": r, "full_name": shared.repo, "private": false,
                "permissions": {"admin": false, "push": !w.read_only, "pull": true},
            }),
        ),
        ("GET", ["releases"]) => {
            let all: Vec<Value> = w
                .releases
                .iter()
                .rev()
                .map(|rel| gitea_release(shared, rel))
                .collect();
            reply(200, Value::Array(page_of(&all, &req.query, 30)))
        }
        ("POST", ["releases"]) => {
            let Some(body) = json_body(req) else {
                return reply(422, json!({"message": "invalid JSON"}));
            };
            let Some(tag) = body
                .get("tag_name")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            else {
                return reply(422, json!({"message": "[TagName]: Required"}));
            };
            if w.releases
                .iter()
                .any(|rel| !rel.draft && rel.tag_name == tag)
            {
                return reply(409, json!({"message": "Release is has no Tag"}));
            }
            let id = new_id(w);
            let mut rel = EmuRelease {
                id,
                tag_name: tag.into(),
                target_commitish: "main".into(),
                name: String::new(),
                body: String::new(),
                draft: body.get("draft").and_then(Value::as_bool).unwrap_or(false),
                prerelease: false,
                make_latest: None,
                assets: vec![],
            };
            apply(&mut rel, &body);
            let out = gitea_release(shared, &rel);
            w.releases.push(rel);
            reply(201, out)
        }
        ("GET", ["releases", "tags", tag]) => match w
            .releases
            .iter()
            .rev()
            .find(|rel| !rel.draft && rel.tag_name == *tag)
        {
            Some(rel) => reply(200, gitea_release(shared, rel)),
            None => not_found(),
        },
        ("GET", ["releases", id]) => match find(w, id) {
            Some(i) => reply(200, gitea_release(shared, &w.releases[i])),
            None => not_found(),
        },
        ("PATCH", ["releases", id]) => {
            let Some(i) = find(w, id) else {
                return not_found();
            };
            let Some(body) = json_body(req) else {
                return reply(422, json!({"message": "invalid JSON"}));
            };
            let rel = &mut w.releases[i];
            apply(rel, &body);
            rel.make_latest = None;
            if let Some(d) = body.get("draft").and_then(Value::as_bool) {
                rel.draft = d;
            }
            reply(200, gitea_release(shared, &w.releases[i]))
        }
        ("DELETE", ["releases", id]) => match find(w, id) {
            Some(i) => {
                w.releases.remove(i);
                empty(204)
            }
            None => not_found(),
        },
        ("GET", ["releases", id, "assets"]) => match find(w, id) {
            Some(i) => {
                let rel = &w.releases[i];
                reply(
                    200,
                    Value::Array(
                        rel.assets
                            .iter()
                            .map(|a| gitea_asset(shared, rel, a))
                            .collect(),
                    ),
                )
            }
            None => not_found(),
        },
        ("POST", ["releases", id, "assets"]) => gitea_upload(shared, w, req, id),
        ("GET", ["releases", id, "assets", aid]) => match find(w, id) {
            Some(i) => match w.releases[i]
                .assets
                .iter()
                .find(|a| a.id.to_string() == *aid)
            {
                Some(a) => reply(200, gitea_asset(shared, &w.releases[i], a)),
                None => not_found(),
            },
            None => not_found(),
        },
        ("DELETE", ["releases", id, "assets", aid]) => match find(w, id) {
            Some(i) => match w.releases[i]
                .assets
                .iter()
                .position(|a| a.id.to_string() == *aid)
            {
                Some(j) => {
                    w.releases[i].assets.remove(j);
                    empty(204)
                }
                None => not_found(),
            },
            None => not_found(),
        },
        _ => not_found(),
    }
}

fn gitea_upload(shared: &Shared, w: &mut World, req: &HttpRequest, id: &str) -> Reply {
    let Some(i) = w.releases.iter().position(|rel| rel.id.to_string() == id) else {
        return not_found();
    };
    let Some((filename, bytes)) = parse_multipart(req) else {
        return reply(500, json!({"message": "GetFile: http: no such file"}));
    };
    let name = query_param(&req.query, "name")
        .filter(|n| !n.is_empty())
        .unwrap_or(filename);
    let failure = take_failure(w, &name);
    if failure.is_some_and(|s| s != 502) {
        return reply(failure.unwrap_or(500), json!({"message": "Server Error"}));
    }
    // No duplicate-name check: Gitea keeps both.
    let aid = new_id(w);
    let asset = EmuAsset {
        id: aid,
        name,
        state: "uploaded".into(),
        content_type: "application/octet-stream".into(),
        bytes,
    };
    let out = gitea_asset(shared, &w.releases[i], &asset);
    w.releases[i].assets.push(asset);
    match failure {
        // Stored, but the answer is lost on the way back (a proxy timing out).
        Some(status) => reply(status, json!({"message": "Bad Gateway"})),
        None => reply(201, out),
    }
}

/// The `attachment` part of a `multipart/form-data` body: its filename and bytes.
fn parse_multipart(req: &HttpRequest) -> Option<(String, Vec<u8>)> {
    let ct = req.header("content-type")?;
    let boundary = ct
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))?
        .trim_matches('"');
    let delim = format!("--{boundary}").into_bytes();
    let body = &req.body;
    let mut starts = Vec::new();
    let mut i = 0;
    while i + delim.len() <= body.len() {
        if body[i..].starts_with(&delim) {
            starts.push(i);
            i += delim.len();
        } else {
            i += 1;
        }
    }
    for pair in starts.windows(2) {
        let part = &body[pair[0] + delim.len()..pair[1]];
        let part = part.strip_prefix(b"\r\n")?;
        let split = part.windows(4).position(|x| x == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&part[..split]).to_string();
        let content = part[split + 4..].strip_suffix(b"\r\n")?;
        if head.contains("name=\"attachment\"") {
            let filename = head
                .split("filename=\"")
                .nth(1)?
                .split('"')
                .next()?
                .to_string();
            return Some((filename, content.to_vec()));
        }
    }
    None
}

/// A query parameter, percent-decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| percent_decode(&v.replace('+', " ")))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
