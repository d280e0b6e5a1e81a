//! Unit tests of the HTTP client against a loopback server that plays scripted answers (status,
//! truncation, silence, redirects) and records what it was sent.

use super::tls::root_certs;
use super::*;
use crate::secret::Secret;
use crate::shell::Shell;
use indicatif::ProgressBar;
use std::io::{BufRead, BufReader};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// What the test server does with one connection.
#[derive(Clone)]
enum Step {
    /// Answer with status, extra headers and body, then close.
    Respond(u16, Vec<(&'static str, String)>, Vec<u8>),
    /// Announce `declared` bytes, send `sent`, close.
    Truncate { declared: usize, sent: Vec<u8> },
    /// Close without answering.
    Close,
    /// Say nothing for a while, then close.
    Stall(Duration),
}

#[derive(Debug, Clone)]
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A loopback server that plays `steps`, one per connection, and records what it was sent.
struct TestServer {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn serve(steps: Vec<Step>) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for step in steps {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let seen = seen2.clone();
            std::thread::spawn(move || handle(stream, step, &seen));
        }
    });
    TestServer { url, seen }
}

fn handle(mut stream: TcpStream, step: Step, seen: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap();
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map_or(0, |(_, v)| v.parse::<usize>().unwrap());
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    seen.lock().unwrap().push(Seen {
        request_line: request_line.trim_end().to_string(),
        headers,
        body,
    });
    let reply = match step {
        Step::Respond(status, extra, body) => {
            let mut head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in extra {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            let mut out = head.into_bytes();
            out.extend(body);
            out
        }
        Step::Truncate { declared, sent } => {
            let mut out = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n"
            )
            .into_bytes();
            out.extend(sent);
            out
        }
        Step::Close => Vec::new(),
        Step::Stall(d) => {
            std::thread::sleep(d);
            Vec::new()
        }
    };
    let _ = stream.write_all(&reply);
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

fn ok(body: &str) -> Step {
    Step::Respond(200, vec![], body.as_bytes().to_vec())
}

fn status(code: u16) -> Step {
    Step::Respond(code, vec![], b"{\"errors\":[]}".to_vec())
}

fn fast(attempts: u32) -> HttpClient {
    HttpClient::new(
        RetryPolicy {
            attempts,
            base: Duration::from_millis(10),
            cap: Duration::from_millis(40),
        },
        vec![],
    )
}

#[test]
fn retries_503_until_200() {
    let server = serve(vec![status(503), status(503), ok("hello")]);
    let client = fast(6);
    let started = Instant::now();
    let resp = client
        .request(
            &Request::get(format!("{}/v2/", server.url)),
            &Shell::plain(),
        )
        .unwrap();
    assert_eq!((resp.status, resp.body.as_slice()), (200, &b"hello"[..]));
    assert_eq!(
        (resp.attempts, client.attempts(), client.retries()),
        (3, 3, 2)
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn honours_retry_after_seconds() {
    let server = serve(vec![
        Step::Respond(429, vec![("Retry-After", "1".into())], vec![]),
        ok("x"),
    ]);
    let client = fast(3);
    let started = Instant::now();
    let resp = client
        .request(&Request::get(format!("{}/", server.url)), &Shell::plain())
        .unwrap();
    let took = started.elapsed();
    assert_eq!((resp.status, client.attempts()), (200, 2));
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(4),
        "{took:?}"
    );
}

#[test]
fn too_long_retry_after_gives_the_answer_back() {
    let server = serve(vec![Step::Respond(
        429,
        vec![("Retry-After", "3600".into())],
        vec![],
    )]);
    let client = fast(6);
    let resp = client
        .request(&Request::get(format!("{}/", server.url)), &Shell::plain())
        .unwrap();
    assert_eq!((resp.status, client.attempts()), (429, 1));
    assert_eq!(resp.retry_after(), Some(Duration::from_secs(3600)));
}

#[test]
fn truncated_body_and_dropped_connection_are_retried() {
    let server = serve(vec![
        Step::Truncate {
            declared: 100,
            sent: b"partial".to_vec(),
        },
        Step::Close,
        ok("complete"),
    ]);
    let client = fast(6);
    let resp = client
        .request(&Request::get(format!("{}/x", server.url)), &Shell::plain())
        .unwrap();
    assert_eq!((resp.status, resp.text().as_str()), (200, "complete"));
    assert_eq!(client.attempts(), 3);
}

#[test]
fn a_stalled_server_times_out_and_is_retried() {
    let server = serve(vec![Step::Stall(Duration::from_secs(2)), ok("late")]);
    let client = HttpClient::with_timeouts(
        RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(10),
            cap: Duration::from_millis(40),
        },
        vec![],
        Timeouts {
            connect: Duration::from_secs(5),
            idle: Duration::from_millis(300),
        },
    );
    let started = Instant::now();
    let resp = client
        .request(&Request::get(format!("{}/", server.url)), &Shell::plain())
        .unwrap();
    assert_eq!((resp.status, client.attempts()), (200, 2));
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[test]
fn retryable_status_is_returned_after_the_last_attempt() {
    let server = serve(vec![status(502), status(500), status(504)]);
    let client = fast(3);
    let resp = client
        .request(&Request::get(format!("{}/", server.url)), &Shell::plain())
        .unwrap();
    assert_eq!((resp.status, resp.attempts, client.attempts()), (504, 3, 3));
}

#[test]
fn client_errors_are_not_retried() {
    let server = serve(vec![status(404), status(501)]);
    let client = fast(6);
    let shell = Shell::plain();
    let resp = client
        .request(&Request::get(format!("{}/a", server.url)), &shell)
        .unwrap();
    assert_eq!((resp.status, client.attempts()), (404, 1));
    let resp = client
        .request(&Request::get(format!("{}/b", server.url)), &shell)
        .unwrap();
    assert_eq!((resp.status, client.attempts()), (501, 2));
}

#[test]
fn request_once_does_not_retry() {
    let server = serve(vec![status(503)]);
    let client = fast(6);
    let resp = client
        .request_once(&Request::put(format!("{}/", server.url)), &Shell::plain())
        .unwrap();
    assert_eq!((resp.status, client.attempts()), (503, 1));
}

#[test]
fn refused_connection_is_a_network_error_naming_the_request() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = fast(3);
    let started = Instant::now();
    let err = client
        .request(
            &Request::head(format!(
                "http://127.0.0.1:{port}/v2/app/blobs/x?state=s3cr3t"
            ))
            .auth(Some(Auth::Bearer(Secret::new("tok-4711-abcdef")))),
            &Shell::plain(),
        )
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains(&format!(
            "HEAD http://127.0.0.1:{port}/v2/app/blobs/x failed after 3 attempts"
        )),
        "{msg}"
    );
    assert!(
        !msg.contains("s3cr3t") && !msg.contains("tok-4711"),
        "{msg}"
    );
    assert!(msg.to_lowercase().contains("refused"), "{msg}");
    assert_eq!(crate::exit::code_of(&err), 5);
    assert!(crate::exit::hints(&err)[0].contains("--retries"));
    assert_eq!(client.attempts(), 3);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn plain_http_only_for_loopback_and_insecure_hosts() {
    let client = HttpClient::new(RetryPolicy::default(), vec!["registry.lan:5000".into()]);
    for ok in [
        "https://ghcr.io/v2/",
        "http://127.0.0.1:5000/v2/",
        "http://127.1.2.3/v2/",
        "http://localhost:5000/v2/",
        "http://[::1]:5000/v2/",
        "http://registry.lan:5000/v2/",
    ] {
        client.check_url(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    let err = client.check_url("http://ghcr.io/v2/").unwrap_err();
    assert_eq!(crate::exit::code_of(&err), 2);
    assert!(
        err.to_string().contains("refusing plain http to `ghcr.io`"),
        "{err}"
    );
    assert_eq!(
        crate::exit::hints(&err),
        ["if `ghcr.io` really has no TLS, allow it with `--insecure-registry ghcr.io`"]
    );
    // Another port of a listed host:port is not allowed; a bare host allows every port.
    assert!(client.check_url("http://registry.lan:6000/v2/").is_err());
    let client = HttpClient::new(RetryPolicy::default(), vec!["http://registry.lan".into()]);
    assert!(client.check_url("http://registry.lan:6000/v2/").is_ok());
    assert!(client.check_url("ftp://x/").is_err());
}

#[test]
fn file_bodies_are_streamed_and_replayed_with_auth() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blob");
    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &content).unwrap();
    let server = serve(vec![status(503), Step::Respond(201, vec![], vec![])]);
    let client = fast(6);
    let bar = ProgressBar::hidden();
    let req = Request::put(format!("{}/upload?digest=sha256:x", server.url))
        .header("Content-Type", "application/octet-stream")
        .auth(Some(Auth::Basic {
            username: "u".into(),
            password: Secret::new("pw-4711"),
        }))
        .body(Body::file(&path).unwrap())
        .progress(Some(bar.clone()));
    let resp = client.request(&req, &Shell::plain()).unwrap();
    assert_eq!(resp.status, 201);
    assert_eq!(bar.position(), content.len() as u64);
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert_eq!(s.request_line, "PUT /upload?digest=sha256:x HTTP/1.1");
        assert_eq!(s.body, content);
        let h = |n: &str| {
            s.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(h("content-length"), Some(content.len().to_string()));
        assert_eq!(h("transfer-encoding"), None);
        assert_eq!(h("authorization"), Some("Basic dTpwdy00NzEx".into()));
    }
}

#[test]
fn download_verifies_and_writes_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("blob");
    let data = b"layer bytes".to_vec();
    let digest = crate::digest::sha256_hex(&data);
    let server = serve(vec![
        Step::Truncate {
            declared: 50,
            sent: b"layer".to_vec(),
        },
        Step::Respond(200, vec![], data.clone()),
        Step::Respond(200, vec![], b"tampered".to_vec()),
        status(404),
    ]);
    let client = fast(6);
    let shell = Shell::plain();
    let req = Request::get(format!("{}/blob", server.url));
    let resp = client.download(&req, &dest, Some(&digest), &shell).unwrap();
    assert_eq!((resp.status, client.attempts()), (200, 2));
    assert_eq!(std::fs::read(&dest).unwrap(), data);

    let other = dir.path().join("other");
    let err = client
        .download(&req, &other, Some(&digest), &shell)
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("does not match its digest"),
        "{err:#}"
    );
    assert_eq!(crate::exit::code_of(&err), 4);
    assert!(!other.exists());

    let resp = client.download(&req, &other, None, &shell).unwrap();
    assert_eq!(resp.status, 404);
    assert!(!other.exists());
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 1, "temporary files were left behind");
}

fn header_of(s: &Seen, name: &str) -> Option<String> {
    s.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

#[test]
fn redirects_keep_credentials_only_within_their_origin() {
    // Two loopback servers on two ports: two origins.
    let other = serve(vec![ok("from the other origin")]);
    let origin = serve(vec![
        Step::Respond(302, vec![("Location", "/v2/moved?x=1".into())], vec![]),
        Step::Respond(
            307,
            vec![("Location", format!("{}/storage/blob", other.url))],
            vec![],
        ),
    ]);
    let client = fast(3);
    let resp = client
        .request(
            &Request::get(format!("{}/v2/blob", origin.url))
                .auth(Some(Auth::Bearer(Secret::new("redirect-token-4711")))),
            &Shell::plain(),
        )
        .unwrap();
    assert_eq!(
        (resp.status, resp.text().as_str()),
        (200, "from the other origin")
    );
    let seen = origin.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].request_line, "GET /v2/moved?x=1 HTTP/1.1");
    for s in &seen {
        assert_eq!(
            header_of(s, "authorization").as_deref(),
            Some("Bearer redirect-token-4711"),
            "the same origin keeps the token"
        );
    }
    let seen = other.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].request_line, "GET /storage/blob HTTP/1.1");
    assert_eq!(
        header_of(&seen[0], "authorization"),
        None,
        "token leaked to another port"
    );
    assert!(same_origin("http://127.0.0.1:80/a", "http://127.0.0.1/b"));
    assert!(!same_origin("https://h/a", "http://h/a"));
    assert!(!same_origin(
        "http://127.0.0.1:5000/",
        "http://127.0.0.1:5001/"
    ));
}

#[test]
fn a_redirect_to_a_refused_origin_is_refused_before_connecting() {
    let origin = serve(vec![Step::Respond(
        302,
        vec![("Location", "http://registry.invalid:5000/v2/blob".into())],
        vec![],
    )]);
    let client = fast(3);
    let err = client
        .request(
            &Request::get(format!("{}/v2/blob", origin.url))
                .auth(Some(Auth::Bearer(Secret::new("redirect-token-0815")))),
            &Shell::plain(),
        )
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("was redirected to http://registry.invalid:5000/v2/blob")
            && msg.contains("refusing plain http to `registry.invalid:5000`"),
        "{msg}"
    );
    assert_eq!(crate::exit::code_of(&err), 2);
    assert_eq!(client.attempts(), 1, "a refused redirect is not retried");
}

#[test]
fn see_other_after_a_post_continues_as_a_get() {
    let origin = serve(vec![
        Step::Respond(303, vec![("Location", "/done".into())], vec![]),
        ok("done"),
    ]);
    let client = fast(3);
    let resp = client
        .request(
            &Request::post(format!("{}/form", origin.url)).body(Body::bytes(b"payload".to_vec())),
            &Shell::plain(),
        )
        .unwrap();
    assert_eq!(resp.text(), "done");
    let seen = origin.seen.lock().unwrap().clone();
    assert_eq!(seen[0].body, b"payload");
    assert_eq!(seen[1].request_line, "GET /done HTTP/1.1");
    assert!(seen[1].body.is_empty());
}

#[test]
fn bodies_over_the_limit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let big = vec![b'x'; 1000];
    let server = serve(vec![
        Step::Respond(200, vec![], big.clone()),
        Step::Respond(200, vec![], big.clone()),
    ]);
    let client = fast(3);
    let shell = Shell::plain();
    let req = Request::get(format!("{}/manifest", server.url)).max_body(999);
    let err = client.request(&req, &shell).unwrap_err();
    let too_large = err
        .chain()
        .find_map(|c| c.downcast_ref::<TooLarge>())
        .unwrap_or_else(|| panic!("{err:#}"));
    assert_eq!(too_large.limit, 999);
    let dest = dir.path().join("blob");
    let err = client.download(&req, &dest, None, &shell).unwrap_err();
    assert!(
        err.chain().any(|c| c.downcast_ref::<TooLarge>().is_some()),
        "{err:#}"
    );
    assert!(!dest.exists());
    assert_eq!(client.attempts(), 2, "not retried");
}

#[test]
fn trusted_roots_include_the_system_store() {
    let ureq::tls::RootCerts::Specific(certs) = root_certs() else {
        panic!("specific roots expected")
    };
    let builtin = webpki_root_certs::TLS_SERVER_ROOT_CERTS.len();
    assert!(certs.len() >= builtin, "{} < {builtin}", certs.len());
    // The system store of this machine (Debian's ca-certificates) adds or repeats roots;
    // either way it was read without failing.
    if Path::new("/etc/ssl/certs/ca-certificates.crt").exists() {
        let system = rustls_native_certs::load_certs_from_paths(
            Some(Path::new("/etc/ssl/certs/ca-certificates.crt")),
            None,
        );
        assert!(!system.certs.is_empty());
    }
}

#[test]
fn backoff_is_bounded_and_grows() {
    let p = RetryPolicy::default();
    assert_eq!(p.attempts, 6);
    assert_eq!(p.ceiling(1), Duration::from_millis(500));
    assert_eq!(p.ceiling(2), Duration::from_millis(1000));
    assert_eq!(p.ceiling(5), Duration::from_secs(8));
    assert_eq!(p.ceiling(6), Duration::from_secs(10));
    assert_eq!(p.ceiling(40), Duration::from_secs(10));
    for retry in 1..10 {
        assert!(p.backoff(retry) <= p.ceiling(retry));
    }
    assert_eq!(
        p.delay(1, Some(Duration::from_secs(3))),
        Some(Duration::from_secs(3))
    );
    assert_eq!(p.delay(1, Some(Duration::from_secs(61))), None);
    assert_eq!(RetryPolicy::new(0).max_attempts(), 1);
}

#[test]
fn retry_after_forms() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_700);
    assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
    // 784111777 = Sun, 06 Nov 1994 08:49:37 GMT
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
        Some(Duration::from_secs(77))
    );
    assert_eq!(
        parse_retry_after(
            "Sun, 06 Nov 1994 08:49:37 GMT",
            now + Duration::from_secs(999)
        ),
        Some(Duration::ZERO)
    );
    assert_eq!(parse_retry_after("soon", now), None);
}

#[test]
fn retryable_statuses() {
    for s in [408, 429, 500, 502, 503, 504, 599] {
        assert!(is_retryable_status(s), "{s}");
    }
    for s in [200, 201, 202, 301, 400, 401, 403, 404, 409, 501, 505] {
        assert!(!is_retryable_status(s), "{s}");
    }
}

#[test]
fn describe_hides_query_and_userinfo() {
    let r = Request::put(
        "https://user:pw@registry.example:443/v2/a/blobs/uploads/u?_state=abc&digest=sha256:1",
    );
    assert_eq!(
        r.describe(),
        "PUT https://registry.example:443/v2/a/blobs/uploads/u"
    );
    assert_eq!(url_host("http://[::1]:5000/v2/").as_deref(), Some("::1"));
}
