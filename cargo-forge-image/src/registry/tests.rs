//! Tests of the registry client against a fake registry with a token service on loopback (the
//! real registry runs in the end-to-end tests), and of references and challenges.

use std::sync::Mutex;
use std::time::Duration;

use super::client::split_host_port;
use super::*;
use crate::auth::Credentials;
use forge_core::http::{Body, HttpClient};
use forge_core::Shell;

fn parse(s: &str) -> Reference {
    Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn references_like_docker() {
    let r = parse("alpine");
    assert_eq!(
        (r.registry.as_str(), r.repository.as_str()),
        ("docker.io", "library/alpine")
    );
    assert_eq!((r.tag.as_deref(), r.reference()), (None, "latest"));
    let r = parse("acme/app:1.2.3");
    assert_eq!(r.repository, "acme/app");
    assert_eq!(r.tag.as_deref(), Some("1.2.3"));
    let r = parse("ghcr.io/acme/app:v1");
    assert_eq!(
        (r.registry.as_str(), r.repository.as_str()),
        ("ghcr.io", "acme/app")
    );
    let r = parse("127.0.0.1:5000/app");
    assert_eq!(
        (r.registry.as_str(), r.repository.as_str(), r.tag),
        ("127.0.0.1:5000", "app", None)
    );
    let r = parse(&format!("localhost:5000/a/b:t@{D}"));
    assert_eq!(r.registry, "localhost:5000");
    assert_eq!(
        (r.tag.as_deref(), r.digest.as_deref()),
        (Some("t"), Some(D))
    );
    assert_eq!(r.reference(), D);
    let r = parse("localhost/app");
    assert_eq!(r.registry, "localhost");
    let r = parse("index.docker.io/nginx");
    assert_eq!(r.name(), "docker.io/library/nginx");
    let r = parse(&format!("ubuntu@{D}"));
    assert_eq!(r.to_string(), format!("docker.io/library/ubuntu@{D}"));
    assert_eq!(
        parse("ghcr.io/a/b:1").with_tag("2").unwrap().to_string(),
        "ghcr.io/a/b:2"
    );
    let r: Reference = "quay.io/org/x_y.z-w__v:tag_1.0-rc".parse().unwrap();
    assert_eq!(r.repository, "org/x_y.z-w__v");
    // What the distribution grammar (oci-spec) has no room for but loopback registries use.
    let r = parse("[::1]:5000/app:1");
    assert_eq!(
        (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
        ("[::1]:5000", "app", Some("1"))
    );
    let r = parse("GHCR.io/acme/app");
    assert_eq!(r.name(), "ghcr.io/acme/app");
    let r = parse("registry-1.docker.io/nginx");
    assert_eq!(r.name(), "docker.io/library/nginx");
}

#[test]
fn bad_references_say_why() {
    let cases = [
        ("", "it is empty"),
        ("Acme/App", "must be lowercase: `Acme/App` (try `acme/app`)"),
        ("ghcr.io/Acme/app", "must be lowercase"),
        ("app:", "invalid tag ``"),
        ("app:-x", "invalid tag `-x`"),
        (
            "app@sha256:abc",
            "expected `sha256:` and 64 lowercase hex digits",
        ),
        ("app@md5:abc", "only sha256 digests are supported"),
        ("https://ghcr.io/a", "without a scheme"),
        ("ghcr.io/a//b", "invalid repository name"),
        ("ghcr.io/-a", "invalid repository name"),
        ("Alpine", "must be lowercase: `library/Alpine`"),
        (
            "my_host:5000/app",
            "`my_host:5000/app` is not `[host[:port]/]repository`",
        ),
    ];
    for (input, want) in cases {
        let err = Reference::parse(input).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(want), "{input}: {msg}");
        assert!(msg.starts_with("invalid image reference"), "{msg}");
        assert_eq!(forge_core::exit::code_of(&err), 2);
    }
}

#[test]
fn challenges() {
    assert_eq!(
        parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push""#
        ),
        Some(Challenge::Bearer {
            realm: "https://auth.docker.io/token".into(),
            service: Some("registry.docker.io".into())
        })
    );
    assert_eq!(
        parse_challenge(r#"bearer realm=https://x/t, service=x"#),
        Some(Challenge::Bearer {
            realm: "https://x/t".into(),
            service: Some("x".into())
        })
    );
    assert_eq!(
        parse_challenge(r#"Basic realm="Registry Realm""#),
        Some(Challenge::Basic)
    );
    assert_eq!(parse_challenge("Negotiate"), None);
    assert_eq!(parse_challenge("Bearer service=x"), None);
}

#[test]
fn locations() {
    let req = "http://127.0.0.1:5000/v2/app/blobs/uploads/";
    assert_eq!(
        resolve_location(req, "/v2/app/blobs/uploads/u1?_state=x"),
        "http://127.0.0.1:5000/v2/app/blobs/uploads/u1?_state=x"
    );
    assert_eq!(
        resolve_location(req, "https://storage.example/up/1"),
        "https://storage.example/up/1"
    );
    assert_eq!(
        resolve_location(req, "u2"),
        "http://127.0.0.1:5000/v2/app/blobs/uploads/u2"
    );
    assert_eq!(
        resolve_location(
            "https://r.example/v2/app/blobs/uploads/?mount=x",
            "//cdn.example/u"
        ),
        "https://cdn.example/u"
    );
    assert_eq!(split_host_port("127.0.0.1:5000"), ("127.0.0.1", Some(5000)));
    assert_eq!(split_host_port("[::1]:5000"), ("::1", Some(5000)));
    assert_eq!(split_host_port("ghcr.io"), ("ghcr.io", None));
    assert_eq!(api_host("docker.io"), DOCKER_HUB_API);
}

/// A fake registry with a bearer token service, on loopback: enough of the protocol to test
/// discovery, scopes, token reuse and renewal, and upload restarts.
mod fake {
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Debug)]
    pub struct Seen {
        pub method: String,
        pub target: String,
        pub authorization: Option<String>,
    }

    pub type Reply = (u16, Vec<(String, String)>, Vec<u8>);

    pub struct Server {
        pub host: String,
        pub seen: Arc<Mutex<Vec<Seen>>>,
    }

    /// Serves `route` on a loopback port, one request per connection.
    pub fn serve(route: impl Fn(&Seen, &str) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (seen2, host2) = (seen.clone(), host.clone());
        let route = Arc::new(route);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let (seen, route, host) = (seen2.clone(), route.clone(), host2.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let method = parts.next().unwrap_or("").to_string();
                    let target = parts.next().unwrap_or("").to_string();
                    let mut headers = HashMap::new();
                    loop {
                        let mut h = String::new();
                        reader.read_line(&mut h).unwrap();
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        let (k, v) = h.split_once(':').unwrap();
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                    let len: usize = headers
                        .get("content-length")
                        .map_or(0, |v| v.parse().unwrap());
                    let mut body = vec![0; len];
                    reader.read_exact(&mut body).unwrap();
                    let req = Seen {
                        method,
                        target,
                        authorization: headers.get("authorization").cloned(),
                    };
                    seen.lock().unwrap().push(req.clone());
                    let (status, extra, body) = route(&req, &host);
                    let mut out = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                        body.len()
                    );
                    for (k, v) in extra {
                        out.push_str(&format!("{k}: {v}\r\n"));
                    }
                    out.push_str("\r\n");
                    let mut bytes = out.into_bytes();
                    if req.method != "HEAD" {
                        bytes.extend(body);
                    }
                    let _ = stream.write_all(&bytes);
                });
            }
        });
        Server { host, seen }
    }
}

fn client_for(host: &str, user: Option<(&str, &str)>) -> RegistryClient {
    let http = HttpClient::new(
        forge_core::http::RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(5),
            cap: Duration::from_millis(20),
        },
        vec![],
    );
    let vars: Vec<(String, String)> = user
        .map(|(u, p)| {
            vec![
                ("FORGE_REGISTRY_USERNAME".to_string(), u.to_string()),
                ("FORGE_REGISTRY_PASSWORD".to_string(), p.to_string()),
            ]
        })
        .unwrap_or_default();
    let creds = Credentials::from_lookup(move |k| {
        vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    });
    RegistryClient::new(http, host, creds, &Shell::plain()).unwrap()
}

fn reply(status: u16, headers: &[(&str, String)]) -> fake::Reply {
    (
        status,
        headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        Vec::new(),
    )
}

/// The routes of a bearer registry whose first token stops working after one use.
fn bearer_registry(put_failures: usize) -> fake::Server {
    let tokens = Mutex::new(0u32);
    let revoked = Mutex::new(Vec::<String>::new());
    let puts = Mutex::new(0usize);
    fake::serve(move |req, host| {
        let path = req.target.split('?').next().unwrap();
        if path == "/token" {
            let good = format!(
                "Basic {}",
                base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    "u:right-pw-4711"
                )
            );
            if req.authorization.as_deref() != Some(good.as_str()) {
                return (401, vec![], br#"{"details":"bad credentials"}"#.to_vec());
            }
            let mut n = tokens.lock().unwrap();
            *n += 1;
            let body = format!(r#"{{"token":"tok-{n}","expires_in":300}}"#);
            return (200, vec![], body.into_bytes());
        }
        let challenge = (
            "WWW-Authenticate",
            format!(r#"Bearer realm="http://{host}/token",service="fake""#),
        );
        let token = req
            .authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "))
            .map(str::to_string);
        let valid = match &token {
            Some(t) => !revoked.lock().unwrap().contains(t),
            None => false,
        };
        if !valid {
            return reply(401, &[challenge]);
        }
        // tok-1 works once, then "expires".
        if token.as_deref() == Some("tok-1") {
            revoked.lock().unwrap().push("tok-1".into());
        }
        match (req.method.as_str(), path) {
            ("GET", "/v2/") => reply(200, &[]),
            ("HEAD", p) if p.starts_with("/v2/app/blobs/") => reply(404, &[]),
            ("POST", "/v2/app/blobs/uploads/") => {
                let n = *puts.lock().unwrap();
                reply(
                    202,
                    &[(
                        "Location",
                        format!("/v2/app/blobs/uploads/session-{n}?_state=x"),
                    )],
                )
            }
            ("PUT", p) if p.starts_with("/v2/app/blobs/uploads/session-") => {
                let mut n = puts.lock().unwrap();
                *n += 1;
                if *n <= put_failures {
                    return reply(500, &[]);
                }
                let digest = req
                    .target
                    .split("digest=")
                    .nth(1)
                    .unwrap()
                    .replace("%3A", ":");
                reply(201, &[("Docker-Content-Digest", digest)])
            }
            _ => reply(404, &[]),
        }
    })
}

#[test]
fn bearer_tokens_with_scopes_renewal_and_upload_restart() {
    let server = bearer_registry(1);
    let client = client_for(&server.host, Some(("u", "right-pw-4711")));
    let data = b"blob bytes".to_vec();
    let digest = digest_of(&data);
    let outcome = client
        .push_blob(
            "app",
            &digest,
            Body::bytes(data),
            Some("base"),
            None,
            &Shell::plain(),
        )
        .unwrap();
    assert_eq!(outcome, Outcome::Uploaded);
    let seen = server.seen.lock().unwrap().clone();
    let lines: Vec<String> = seen
        .iter()
        .map(|s| format!("{} {}", s.method, s.target.split('?').next().unwrap()))
        .collect();
    let tokens: Vec<&fake::Seen> = seen
        .iter()
        .filter(|s| s.target.starts_with("/token"))
        .collect();
    // Discovery without credentials, then one token; it "expires" after one use and is
    // renewed once.
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].authorization, None);
    assert_eq!(tokens.len(), 2, "{lines:#?}");
    for t in &tokens {
        assert!(
            t.target.contains("service=fake")
                && t.target.contains("scope=repository%3Aapp%3Apull%2Cpush")
                && t.target.contains("scope=repository%3Abase%3Apull"),
            "{}",
            t.target
        );
    }
    // The mount was answered with an ordinary session (202), whose PUT failed; the upload
    // restarted with a new POST after checking with HEAD that the blob had not arrived.
    let count = |m: &str, prefix: &str| {
        lines
            .iter()
            .filter(|l| l.starts_with(&format!("{m} {prefix}")))
            .count()
    };
    assert_eq!(
        count("PUT", "/v2/app/blobs/uploads/session-"),
        2,
        "{lines:#?}"
    );
    // The mount POST twice (refused with the expired token, then accepted), then a fresh one.
    assert_eq!(count("POST", "/v2/app/blobs/uploads/"), 3, "{lines:#?}");
    assert_eq!(count("HEAD", "/v2/app/blobs/"), 2, "{lines:#?}");
    assert!(seen.iter().any(|s| s.method == "POST"
        && s.target.contains("mount=sha256%3A")
        && s.target.contains("from=base")));
    let last_put = seen.iter().rev().find(|s| s.method == "PUT").unwrap();
    assert_eq!(last_put.authorization.as_deref(), Some("Bearer tok-2"));
    assert!(
        last_put.target.contains("?_state=x&digest=sha256"),
        "{}",
        last_put.target
    );
}

#[test]
fn wrong_password_names_the_registry_not_the_password() {
    let server = bearer_registry(0);
    let client = client_for(&server.host, Some(("u", "wrong-pw-0815")));
    let err = client
        .blob_exists("app", &digest_of(b"x"), &Shell::plain())
        .unwrap_err();
    let text = format!("{err:#} {:?}", forge_core::exit::hints(&err));
    assert!(
        text.contains(&format!(
            "authentication to {} failed with user `u` from FORGE_REGISTRY_USERNAME/FORGE_REGISTRY_PASSWORD",
            server.host
        )),
        "{text}"
    );
    assert!(
        text.contains("the token service 127.0.0.1 answered 401"),
        "{text}"
    );
    assert!(!text.contains("wrong-pw-0815"), "{text}");
    assert!(text.contains("docker login"), "{text}");
    assert_eq!(forge_core::exit::code_of(&err), 5);
}

#[test]
fn unreachable_registry_is_a_network_error_naming_the_host() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let http = HttpClient::new(
        forge_core::http::RetryPolicy {
            attempts: 2,
            base: Duration::from_millis(5),
            cap: Duration::from_millis(10),
        },
        vec![],
    );
    let err = RegistryClient::new(
        http,
        &format!("127.0.0.1:{port}"),
        Credentials::none(),
        &Shell::plain(),
    )
    .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.starts_with(&format!("failed to reach the registry 127.0.0.1:{port}")),
        "{text}"
    );
    assert_eq!(forge_core::exit::code_of(&err), 5);
}

#[test]
fn registry_error_bodies() {
    let resp = Response {
        status: 401,
        headers: vec![],
        body: br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#.to_vec(),
        attempts: 1,
    };
    assert_eq!(
        status_and_detail(&resp),
        "401 Unauthorized: UNAUTHORIZED: authentication required"
    );
    assert_eq!(
        encode("repository:a/b:pull,push"),
        "repository%3Aa%2Fb%3Apull%2Cpush"
    );
}
